"""EndNote's tagged text (the Refer/BibIX layout: ``%A Smith, J.``, ``%T Title``), which EndNote writes
with its "Refer/BibIX" output style and reads with its "EndNote Import" filter.

A field is a line starting with ``%`` and one character, a space and the value; a line without a tag
continues the field above it (EndNote wraps abstracts, and writes one keyword per line under one
``%K``). Records are separated by blank lines; a second ``%0`` (reference type) also starts one.
"""
import re

from studies.imports.errors import ImportFileError, RecordWarning, WarningKind
from studies.imports.records import ParsedRecord, parsed_record_build

Tags = dict[str, list[str]]

# "%" and the field's character, then a space (or the end of the line for an empty field).
_FIELD = re.compile(r"%([0-9A-Za-z@!#$&()*+,\-./:;<=>?\[\]^_{|}~])(?: (.*)|$)")
# Fields whose continuation lines are further values rather than one wrapped text.
_LIST_FIELDS = frozenset("K")
_BOOK_TYPES = ("book", "edited book", "electronic book")


def refer_detect(head: str) -> bool:
    """Whether text starts like EndNote tagged text: its first field lines, a title or author among them."""
    fields = re.findall(r"^%([0-9A-Z@!#$&()*+,\-./:;<=>?\[\]^_{|}~]) \S", head, re.MULTILINE)
    return len(fields) >= 2 and bool({"T", "A", "0"} & set(fields)) and head.lstrip().startswith("%")


def _entries(text: str) -> list[tuple[int, list[str], Tags, list[RecordWarning]]]:
    entries = []
    lines: list[str] = []
    tags: Tags = {}
    warnings: list[RecordWarning] = []
    start, last = 0, None

    def close() -> None:
        if tags:
            entries.append((start, lines.copy(), dict(tags), warnings.copy()))
        lines.clear()
        tags.clear()
        warnings.clear()

    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            close()
            last = None
            continue
        match = _FIELD.match(line)
        if match:
            field, value = match.group(1), (match.group(2) or "").strip()
            if field == "0" and "0" in tags:
                close()  # records without a blank line between them
            if not tags:
                start = number
            tags.setdefault(field, []).append(value)
            last = field
        elif last is not None:
            values = tags[last]
            if last in _LIST_FIELDS:
                values.append(line.strip())
            else:
                values[-1] = f"{values[-1]} {line.strip()}".strip()
        else:
            warnings.append(RecordWarning(WarningKind.TEXT_OUTSIDE_RECORD,
                                          f"Text before this record was ignored: {line.strip()[:80]!r}.",
                                          line=number, field=None))
            continue
        lines.append(line)
    close()
    if not entries:
        raise ImportFileError("No EndNote tagged records (no \"%T \" or \"%A \" lines).", line=1, field="%T")
    return entries


def refer_parse(text: str) -> list[ParsedRecord]:
    """Parse EndNote tagged text (``%0 Journal Article`` / ``%A`` / ``%T`` …)."""
    records = []
    for index, (line, lines, tags, warnings) in enumerate(_entries(text), start=1):
        get = tags.get
        kind = " ".join(get("0", [])).strip()
        is_book = kind.lower() in _BOOK_TYPES
        databases = " ".join(get("~", []) + get("W", [])).lower()
        records.append(parsed_record_build(
            record=index, line=line, raw_entry="\n".join(lines), warnings=warnings,
            title=get("T"),
            title_alternatives=(("translated title (%Q)", get("Q")), ("short title (%!)", get("!")),
                                ("book title (%B)", get("B") if is_book else None)),
            abstract=get("X"),
            authors=get("A"),
            year=get("D", []) + get("8", []),
            # %J is a journal; %B the book or conference a section or paper is part of.
            journal=get("J") or (None if is_book else get("B")),
            volume=get("V"), issue=get("N"), pages=get("P"),
            doi=get("R"),
            # The accession number (%M) is a PMID only for records that came from PubMed/MEDLINE.
            pmid=[value for value in get("M", []) if value.strip().isdigit()]
            if "pubmed" in databases or "medline" in databases else None,
            nct_sources=get("M", []) + get("Z", []),
            keywords=[keyword for value in get("K", []) for keyword in re.split(r"[;\n]", value)],
            language=get("G"),
            publication_type=[kind] + get("9", []) if kind else get("9"),
            url=get("U"),
        ))
    return records
