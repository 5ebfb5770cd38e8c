"""BibTeX (Zotero, Scopus, Google Scholar, JabRef) through bibtexparser 2."""
import re

import bibtexparser
from bibtexparser.middlewares import LatexDecodingMiddleware

from studies.imports.errors import ImportFileError
from studies.imports.records import ParsedRecord, parsed_record_build


def _field(entry, *names: str) -> list[str]:
    for name in names:
        field = entry.fields_dict.get(name)
        if field is not None and str(field.value).strip():
            return [str(field.value)]
    return []


def _braces(text: str) -> str:
    # Case-protecting braces ({RCT}) carry no meaning once imported.
    return text.replace("{", "").replace("}", "")


def bibtex_parse(text: str) -> list[ParsedRecord]:
    """Parse BibTeX; a block bibtexparser cannot read is an error naming its line."""
    try:
        library = bibtexparser.parse_string(text, append_middleware=[LatexDecodingMiddleware()])
    except Exception as error:  # bibtexparser raises bare exceptions on some malformed input
        raise ImportFileError(f"Not readable as BibTeX ({error}).", field="format") from None
    for block in library.failed_blocks:
        raise ImportFileError(str(getattr(block, "error", "")) or "This entry is not valid BibTeX.",
                              record=None, line=block.start_line + 1, field="entry")
    if not library.entries:
        raise ImportFileError("No BibTeX entries (no @article{…}).", line=1, field="entry")
    lines = text.split("\n")
    records = []
    for index, entry in enumerate(library.entries, start=1):
        authors = [_braces(a).strip() for a in re.split(r"\s+and\s+", _field(entry, "author")[0])] \
            if _field(entry, "author") else []
        keywords = [k.strip() for v in _field(entry, "keywords", "keyword") for k in re.split(r"[;,]", _braces(v))]
        start = entry.start_line
        records.append(parsed_record_build(
            record=index, line=start + 1,
            raw_entry=entry.raw if entry.raw else "\n".join(lines[start:start + 1]),
            title=[_braces(v) for v in _field(entry, "title")],
            abstract=[_braces(v) for v in _field(entry, "abstract")],
            authors=authors, year=_field(entry, "year", "date"),
            journal=[_braces(v) for v in _field(entry, "journal", "journaltitle", "booktitle")],
            volume=_field(entry, "volume"), issue=_field(entry, "number", "issue"),
            pages=[v.replace("--", "-").replace("\u2013", "-") for v in _field(entry, "pages")],
            doi=_field(entry, "doi"), pmid=_field(entry, "pmid"),
            nct_sources=_field(entry, "note", "annote"),
            keywords=keywords, language=_field(entry, "language", "langid"),
            publication_type=[entry.entry_type] + _field(entry, "type", "document_type"),
            url=_field(entry, "url"),
        ))
    return records
