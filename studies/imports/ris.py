"""RIS (Embase/Ovid, PubMed, Web of Science, Scopus, PsycInfo/EBSCO, Cochrane, EndNote, Zotero).

The entries are found with ``str.find`` (``TY  -`` starts one, ``ER  -`` or a bare ``ER`` ends it), so
every record keeps its raw text and line number, and a missing ``ER`` is an error rather than a
silently dropped record. Each entry's tag lines are read by one regular expression, in file order,
under their own names; ``ris_records`` then maps the tags of the different flavours onto ``Record``.
A tag line is what rispy takes for one (``XX  - value``: a capital letter, a capital letter or digit,
two spaces and a hyphen); an untagged line inside an entry continues the value above it (exports
wrap long abstracts). rispy itself is not used: we need neither its fixed tag names (flavours
disagree on which tag carries what) nor its record splitting (which keeps no line numbers), and
scanning in C rather than line by line in Python is what keeps a 100,000-record import within three
times rispy's bare parse (``bench/import.py``).
"""
from collections.abc import Iterator
import re

from studies.imports.errors import ImportFileError
from studies.imports.records import ParsedRecord, parsed_record_build

Tags = dict[str, list[str]]

_TAG_LINE = re.compile(r"^([A-Z][A-Z0-9])  - ?(.*)", re.MULTILINE)
_BARE_END = re.compile(r"ER[^\S\n]*(?:\n|$)")


def _record_end(text: str, start: int) -> int:
    """Where the ``ER`` line of the entry starting at ``start`` ends (its newline), or -1."""
    position = start
    while True:
        found = text.find("\nER", position)
        if found == -1:
            return -1
        found += 1
        if text.startswith("  -", found + 2) or _BARE_END.match(text, found):
            end = text.find("\n", found)
            return len(text) if end == -1 else end
        position = found  # a line that merely starts with "ER" (an untagged continuation)


def _line_of(text: str, position: int, offset: int, line: int) -> int:
    """The line number at ``offset``, counting from ``position`` known to be on ``line``."""
    return line + text.count("\n", position, offset)


def _outside_text(text: str, start: int, end: int) -> int:
    """Offset of the first non-blank character in ``text[start:end]``, or -1."""
    gap = text[start:end]
    stripped = gap.lstrip()
    return -1 if not stripped else start + len(gap) - len(stripped)


def _tags_slow(entry: str) -> Tags:
    """Tags of an entry holding untagged lines: each continues the value above it (wrapped lines)."""
    tags: Tags = {}
    values = None
    for line in entry.split("\n"):
        match = _TAG_LINE.match(line)
        if match:
            tag, value = match.groups()
            values = tags.setdefault(tag, [])
            values.append(value)
        elif line.strip() and values is not None and line.rstrip() != "ER":
            values[-1] = f"{values[-1]} {line.strip()}"
    return tags


def _entries(text: str) -> Iterator[tuple[int, str, Tags]]:
    """The file's entries ``(first line number, raw text TY … ER, tags)``, in order, as they are read.

    A structural error is raised when reached, so an earlier record's field error comes first.
    """
    text = "\n" + text  # every entry, the first included, starts after a newline
    position, line, count = 0, 0, 0  # ``position`` (the end of the last entry) is on line ``line``
    find, findall = text.find, _TAG_LINE.findall
    while True:
        start = find("\nTY  -", position)
        start = len(text) if start == -1 else start + 1
        if count:  # a header before the first record is allowed (EndNote and Ovid write one)
            outside = _outside_text(text, position, start)
            if outside != -1:
                raise ImportFileError("Text outside a record (a record must start with TY  - ).",
                                      record=count + 1, line=_line_of(text, position, outside, line), field="TY")
        if start == len(text):
            break
        line = _line_of(text, position, start, line)
        end = _record_end(text, start)
        nested = find("\nTY  -", start, len(text) if end == -1 else end)
        if nested != -1:
            raise ImportFileError(f"A new record starts (TY) before the record from line {line} ended (ER).",
                                  record=count + 1, line=_line_of(text, start, nested + 1, line), field="ER")
        if end == -1:
            raise ImportFileError(f"The record from line {line} never ends (no ER  - line).",
                                  record=count + 1, line=line, field="ER")
        entry = text[start:end]
        found = findall(entry)
        newlines = entry.count("\n")
        if len(found) == newlines + 1:  # every line tagged: the common case, read without a Python loop per line
            tags: Tags = {}
            for tag, value in found:
                values = tags.get(tag)
                if values is None:
                    tags[tag] = [value]
                else:
                    values.append(value)
        else:
            tags = _tags_slow(entry)
        count += 1
        yield line, entry, tags
        position, line = end, line + newlines
    if not count:
        raise ImportFileError("No RIS records (no line starts with TY  - ).", line=1, field="TY")


def _get(tags: Tags, *names: str) -> list[str]:
    values: list[str] = []
    for name in names:
        found = tags.get(name)
        if found:
            values += found
    return values


def ris_records(text: str) -> Iterator[ParsedRecord]:
    """The checked records of RIS text (newlines already ``\\n``), one at a time as they are read."""
    for index, (line, entry, tags) in enumerate(_entries(text), start=1):
        get = tags.get
        yield parsed_record_build(
            record=index, line=line, raw_entry=entry,
            # T1/TI: title; CT is EBSCO's title in some exports. Without one, another title the entry
            # has stands in (with a warning): a book's, the short one, the translated one.
            title=_get(tags, "TI", "T1") or get("CT"),
            title_alternatives=(("book title (BT)", get("BT")), ("short title (ST)", get("ST")),
                                ("translated title (TT)", get("TT")),
                                ("secondary title (T2)", get("T2") if _is_book(tags) else None)),
            # N2 and AB: a wrapped abstract arrives as several values; join the first tag's values.
            abstract=get("AB") or get("N2"),
            authors=get("AU") or get("A1"),
            year=_get(tags, "PY", "Y1", "DA"),
            journal=_get(tags, "JF", "JO", "T2", "JA", "J2") or get("J1"),
            volume=get("VL"),
            issue=get("IS") or get("CP"),
            start_page=next(iter(get("SP", ())), None),
            end_page=next(iter(get("EP", ())), None),
            doi=get("DO") or [v for v in _get(tags, "M3", "N1", "UR", "L2") if "doi.org/10." in v.lower()],
            # PubMed's RIS puts the PMID in AN, but Embase and PsycInfo put their own accession numbers
            # there: AN counts only when the entry says it came from PubMed/MEDLINE.
            pmid=_pmids(tags),
            nct_sources=_get(tags, "AN", "N1", "M1", "UR", "C1", "C3", "C4", "RN"),
            keywords=get("KW"),
            language=get("LA"),
            publication_type=_get(tags, "TY", "M3"),
            url=_get(tags, "UR", "L2", "L1"),
        )


def _pmids(tags: Tags) -> list[str]:
    pmids = []
    if "AN" in tags and _is_pubmed(tags):
        pmids += [value.strip() for value in tags["AN"] if value.strip().isdigit()]
    for value in _get(tags, "PM", "C2", "N1"):
        value = value.strip()
        if value.upper().startswith("PMID:"):
            pmids.append(value[5:].strip())
    return pmids


_BOOK_TYPES = frozenset({"BOOK", "EBOOK", "EDBOOK", "CHAP", "ECHAP"})


def _is_book(tags: Tags) -> bool:
    # Only a book's or a chapter's T2 is a title of the work; an article's T2 is its journal.
    return any(value.strip().upper() in _BOOK_TYPES for value in tags.get("TY", ()))


def _is_pubmed(tags: Tags) -> bool:
    databases = " ".join(_get(tags, "DB", "DP")).lower()
    return "pubmed" in databases or "medline" in databases or "nlm" in databases
