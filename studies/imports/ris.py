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

from studies.imports.errors import ImportFileError, RecordWarning, WarningKind
from studies.imports.records import ParsedRecord, parsed_record_build

Tags = dict[str, list[str]]

_TAG_LINE = re.compile(r"^([A-Z][A-Z0-9])  - ?(.*)", re.MULTILINE)
_BARE_END = re.compile(r"ER[^\S\n]*(?:\n|$)")
# Lines exports put between records that carry nothing of them: record numbers ("1.", "<1>", "[1]",
# "Record #1 of 2"), EndNote's and Ovid's headers, Ovid's "Link to the Ovid Full Text or citation:"
# and the link under it. Anything else there is named in a warning.
_DECORATION = re.compile(
    r"\s*(?:<\d+>|\[\d+\]|\d+\.?|Record #?\d+(?: of \d+)?|(?:Provider|Content|Database|Source|"
    r"Search Strategy|Results?):.*|Link to the .*|(?:https?|ftp)://\S*)?\s*", re.IGNORECASE)
# Dialects read after a rewrite of the file's tag lines (rare; the common layout costs nothing):
# "TY - JOUR" with one space before the hyphen, tag lines indented, or a record number before TY
# ("1. TY  - JOUR", "<1> TY  - JOUR").
_DIALECT_HINT = re.compile(r"^(?:[A-Z][A-Z0-9] -(?: |$)|[ \t]+[A-Z][A-Z0-9] {1,2}-|(?:<\d+>|\d+\.|\[\d+\])[ \t]*TY)",
                           re.MULTILINE)
_DIALECT_LINE = re.compile(r"^(?:[ \t]+|(?:<\d+>|\d+\.|\[\d+\])[ \t]*(?=TY))?([A-Z][A-Z0-9]) {1,2}-( |$)",
                           re.MULTILINE)


def ris_dialect_normalise(text: str) -> str:
    """Tag lines of the layouts some exporters write, rewritten as ``XX  - `` (values untouched)."""
    if not _DIALECT_HINT.search(text, 0, 20000):
        return text
    return _DIALECT_LINE.sub(r"\1  -\2", text)


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


def _tags_slow(entry: str) -> Tags:
    """Tags of an entry holding untagged lines: each continues the value above it (wrapped lines),
    except under ``KW``, where EndNote, AGRIS and CAB write one keyword a line."""
    tags: Tags = {}
    values = None
    tag = ""
    for line in entry.split("\n"):
        match = _TAG_LINE.match(line)
        if match:
            tag, value = match.groups()
            values = tags.setdefault(tag, [])
            values.append(value)
        elif line.strip() and values is not None and line.rstrip() != "ER":
            if tag == "KW":
                values.append(line.strip())
            else:
                values[-1] = f"{values[-1]} {line.strip()}"
    return tags


def _stray_text(text: str, start: int, end: int, line: int) -> RecordWarning | None:
    """A warning for the first line in ``text[start:end]`` (after a record) that is not decoration."""
    for number, gap_line in enumerate(text[start:end].split("\n")):
        if not _DECORATION.fullmatch(gap_line):
            shown = gap_line.strip()
            return RecordWarning(WarningKind.TEXT_OUTSIDE_RECORD,
                                 f"Text after this record's end was ignored: {shown[:80]!r}"
                                 f"{'…' if len(shown) > 80 else ''}.", line=line + number, field=None)
    return None


_NONE: list[RecordWarning] = []  # the warnings of a record without any (never appended to)


def _entries(text: str) -> Iterator[tuple[int, str, Tags, list[RecordWarning], bool]]:
    """The file's entries ``(first line number, raw text TY … ER, tags, warnings, spaced)``, in order, as
    read; ``spaced``: every value's whitespace is single spaces (see ``parsed_record_build``).

    Text before the first record is a header (EndNote and Ovid write one). A record without its ``ER``
    line ends where the next begins (or at the end of the file); text between two records is ignored,
    and named in a warning on the record before it unless it is a known decoration (``_DECORATION``).
    """
    text = "\n" + text  # every entry, the first included, starts after a newline
    find, findall = text.find, _TAG_LINE.findall
    start = find("\nTY  -")
    if start == -1:
        raise ImportFileError("No RIS records (no line starts with TY  - ).", line=1, field="TY")
    start += 1
    position, line = 0, 0  # ``position`` (the end of the last entry) is on line ``line``
    while start < len(text):
        line = _line_of(text, position, start, line)
        end = _record_end(text, start)
        following = find("\nTY  -", start)
        warnings: list[RecordWarning] = _NONE
        if end == -1 or (following != -1 and following < end):
            warnings = []
            end = following if following != -1 else len(text)
            while end > start and text[end - 1] in " \t\n":  # the blank lines before the next record
                end -= 1
            warnings.append(RecordWarning(WarningKind.RECORD_NOT_CLOSED,
                                          "The record has no end line (ER  - ); it was ended where "
                                          f"{'the next record begins' if following != -1 else 'the file ends'}.",
                                          line=line, field="ER"))
        entry = text[start:end]
        found = findall(entry)
        newlines = entry.count("\n")
        spaced = False
        if len(found) == newlines + 1:  # every line tagged: the common case, read without a Python loop per line
            # Single spaces only in every value: the one double space of each line is its tag's
            # ("XX  - "), and no other whitespace but the newlines (checked in ASCII, where the
            # whitespace str.split() takes is these eight characters, the space and the newline;
            # anything else is squashed value by value).
            spaced = (entry.isascii() and "\t" not in entry and "\r" not in entry  # a memchr each
                      and "\x0b" not in entry and "\x0c" not in entry and "\x1c" not in entry
                      and "\x1d" not in entry and "\x1e" not in entry and "\x1f" not in entry
                      and entry.count("  ") == len(found))
            tags: Tags = {}
            for tag, value in found:
                values = tags.get(tag)
                if values is None:
                    tags[tag] = [value]
                else:
                    values.append(value)
        else:
            tags = _tags_slow(entry)
        following = len(text) if following == -1 else following + 1
        # The gap to the next record: a blank line or two, usually; the check is one strip.
        if not text[end:following].isspace() and end < following:
            stray = _stray_text(text, end, following, line + newlines)
            if stray is not None:
                warnings = [*warnings, stray]
        yield line, entry, tags, warnings, spaced
        position, line, start = end, line + newlines, following


def _get(tags: Tags, *names: str) -> list[str]:
    values: list[str] = []
    for name in names:
        found = tags.get(name)
        if found:
            values += found
    return values


def ris_records(text: str) -> Iterator[ParsedRecord]:
    """The checked records of RIS text (newlines already ``\\n``), one at a time as they are read."""
    for index, (line, entry, tags, warnings, spaced) in enumerate(_entries(ris_dialect_normalise(text)), start=1):
        get = tags.get
        # T1/TI: title; CT is EBSCO's title in some exports.
        title = _get(tags, "TI", "T1") or get("CT")
        yield parsed_record_build(
            record=index, line=line, raw_entry=entry, warnings=warnings, spaced=spaced,
            title=title,
            title_alternatives=() if title else _title_alternatives(tags),
            # N2 and AB: a wrapped abstract arrives as several values; join the first tag's values.
            abstract=get("AB") or get("N2"),
            authors=get("AU") or get("A1"),
            year=_get(tags, "PY", "Y1", "DA"),
            journal=_get(tags, "JF", "JO", "T2", "JA", "J2") or get("J1"),
            volume=get("VL"),
            # Old RIS writers put the issue in CP; Web of Science puts a conference's name there.
            issue=get("IS") or [value for value in get("CP", ()) if _issue_like(value)],
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


# Ovid's link to a record names its accession number, which for Ovid MEDLINE is the PMID.
_OVID_AN = re.compile(r"ovid\.com/.*[?&]AN=(\d{1,9})(?:&|$)", re.IGNORECASE)


def _pmids(tags: Tags) -> list[str]:
    pmids = []
    if _is_pubmed(tags):
        pmids += [value.strip() for value in tags.get("AN", ()) if value.strip().isdigit()]
        pmids += [found.group(1) for value in _get(tags, "UR", "L2") if (found := _OVID_AN.search(value))]
    for value in _get(tags, "PM", "C2", "N1"):
        value = value.strip()
        if value.upper().startswith("PMID:"):
            pmids.append(value[5:].strip())
    return pmids


def _title_alternatives(tags: Tags) -> tuple[tuple[str, list[str] | None], ...]:
    """Other titles an entry without a title has, in the order they stand in for it (with a warning)."""
    get = tags.get
    return (("book title (BT)", get("BT")), ("short title (ST)", get("ST")), ("translated title (TT)", get("TT")),
            ("secondary title (T2)", get("T2") if _is_book(tags) else None))


def _issue_like(value: str) -> bool:
    """An issue number as exports write it: "3", "3-4", "Suppl 2", "Pt 1" (a digit, a few words)."""
    return any(ch.isdigit() for ch in value) and len(value.split()) <= 3


_BOOK_TYPES = frozenset({"BOOK", "EBOOK", "EDBOOK", "CHAP", "ECHAP"})


def _is_book(tags: Tags) -> bool:
    # Only a book's or a chapter's T2 is a title of the work; an article's T2 is its journal.
    return any(value.strip().upper() in _BOOK_TYPES for value in tags.get("TY", ()))


def _is_pubmed(tags: Tags) -> bool:
    databases = " ".join(_get(tags, "DB", "DP")).lower()
    return "pubmed" in databases or "medline" in databases or "nlm" in databases
