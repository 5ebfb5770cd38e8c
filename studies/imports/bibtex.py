"""BibTeX (Zotero, Scopus, Google Scholar, JabRef) through bibtexparser 2."""
import re

import bibtexparser
from bibtexparser.middlewares import LatexDecodingMiddleware

from studies.imports.errors import ImportFileError, RecordWarning, WarningKind
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
    """Parse BibTeX; a block bibtexparser cannot read is kept as a record without fields, with a warning."""
    try:
        library = bibtexparser.parse_string(text, append_middleware=[LatexDecodingMiddleware()])
    except Exception as error:  # bibtexparser raises bare exceptions on some malformed input
        raise ImportFileError(f"Not readable as BibTeX ({error}).", field="format") from None
    if not library.entries and not library.failed_blocks:
        raise ImportFileError("No BibTeX entries (no @article{…}).", line=1, field="entry")
    lines = text.split("\n")
    # Entries and the blocks bibtexparser could not read, in file order: an unreadable entry is kept
    # (its text as the raw entry, no fields) and named in a warning, rather than refusing the file.
    # A second entry under a key already used (DuplicateBlockKeyBlock) is an entry like any other here.
    failed = [getattr(block, "ignore_error_block", None) or block for block in library.failed_blocks]
    blocks = sorted([*library.entries, *failed], key=lambda block: block.start_line)
    records = []
    for index, entry in enumerate(blocks, start=1):
        start = entry.start_line
        if not hasattr(entry, "fields_dict"):
            raw = entry.raw if isinstance(entry.raw, str) else "\n".join(lines[start:start + 1])
            records.append(parsed_record_build(
                record=index, line=start + 1, raw_entry=raw.rstrip(), title=None,
                warnings=[RecordWarning(WarningKind.ENTRY_UNREADABLE,
                                        f"This entry is not valid BibTeX ({_first_line(entry)}); it is kept as "
                                        "written, without fields: complete it by hand.", line=start + 1,
                                        field="entry")]))
            continue
        authors = [_braces(a).strip() for a in re.split(r"\s+and\s+", _field(entry, "author")[0])] \
            if _field(entry, "author") else []
        keywords = [k.strip() for v in _field(entry, "keywords", "keyword") for k in re.split(r"[;,]", _braces(v))]
        records.append(parsed_record_build(
            record=index, line=start + 1,
            raw_entry=entry.raw if entry.raw else "\n".join(lines[start:start + 1]),
            title=[_braces(v) for v in _field(entry, "title")],
            title_alternatives=(("short title", [_braces(v) for v in _field(entry, "shorttitle")]),
                                ("book title", [_braces(v) for v in _field(entry, "booktitle")])),
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


def _first_line(block) -> str:
    """bibtexparser's own reason: the last line of its message ("Unexpectedly reached end of file.")."""
    lines = [line.strip() for line in str(getattr(block, "error", "") or "").split("\n") if line.strip()]
    return lines[-1][:120] if lines else "unreadable"
