"""RIS (Embase/Ovid, PubMed, Web of Science, Scopus, PsycInfo/EBSCO, Cochrane, EndNote, Zotero).

One pass over the lines finds the entries (so that every record keeps its raw text and line number,
and a missing ``ER`` is an error rather than a silently dropped record) and collects each entry's tags
under their own names, in file order; ``ris_parse`` then maps the tags of the different flavours onto
``Record``. A tag line is recognised exactly as rispy recognises it (``XX  - value``: two characters,
the first a capital letter, then two spaces and a hyphen), and an untagged line inside an entry is a
further value of the tag above it, as rispy treats it. rispy itself is not used: we need neither its
fixed tag names (flavours disagree on which tag carries what) nor its record splitting (which keeps
no line numbers), and scanning the lines once here is what keeps a 100,000-record import within
three times rispy's bare parse (``bench/import.py``).
"""
from collections.abc import Iterator

from studies.imports.errors import ImportFileError
from studies.imports.records import ParsedRecord, parsed_record_build

Tags = dict[str, list[str]]

# Characters split into lines at a time: the whole file as one list of lines would cost ~1.5x its size.
_CHUNK = 1 << 20


def _lines(text: str) -> Iterator[str]:
    """``text.split("\n")`` one chunk at a time (same lines, bounded memory)."""
    position = 0
    while True:
        end = text.find("\n", position + _CHUNK)
        if end == -1:
            yield from text[position:].split("\n")
            return
        yield from text[position:end].split("\n")
        position = end + 1


def _entries(text: str) -> Iterator[tuple[int, list[str], Tags]]:
    """The file's entries ``(first line number, lines TY … ER, tags)``, in order, as they are read.

    A structural error is raised when reached, so an earlier record's field error comes first.
    """
    count = 0
    lines: list[str] | None = None
    tags: Tags = {}
    last = "TY"
    start = 0
    for number, line in enumerate(_lines(text), start=1):
        if line[2:5] == "  -" and line[:1].isalpha() and line[:2].isupper():
            tag = line[:2]
            if tag == "TY":
                if lines is not None:
                    raise ImportFileError(
                        f"A new record starts (TY) before the record from line {start} ended (ER).",
                        record=count + 1, line=number, field="ER")
                lines, tags, last, start = [line], {"TY": [line[6:].strip()]}, "TY", number
                continue
            if lines is None:
                if count:
                    raise ImportFileError("Text outside a record (a record must start with TY  - ).",
                                          record=count + 1, line=number, field="TY")
                continue  # a header before the first record (EndNote and Ovid write one)
            lines.append(line)
            if tag == "ER":
                count += 1
                yield start, lines, tags
                lines = None
                continue
            values = tags.get(tag)
            if values is None:
                tags[tag] = [line[6:].strip()]
            else:
                values.append(line[6:].strip())
            last = tag
        elif lines is not None:
            lines.append(line)
            if line.rstrip() == "ER":  # a bare "ER" without its separator still closes the record
                count += 1
                yield start, lines, tags
                lines = None
            else:  # a wrapped line: one more value of the tag above
                tags[last].append(line.strip())
        elif line.strip() and count:
            raise ImportFileError("Text outside a record (a record must start with TY  - ).",
                                  record=count + 1, line=number, field="TY")
    if lines is not None:
        raise ImportFileError(f"The record from line {start} never ends (no ER  - line).",
                              record=count + 1, line=start, field="ER")
    if not count:
        raise ImportFileError("No RIS records (no line starts with TY  - ).", line=1, field="TY")


def _get(tags: dict, *names: str) -> list[str]:
    values: list[str] = []
    for name in names:
        values.extend(tags.get(name, ()))
    return values


def ris_parse(text: str) -> list[ParsedRecord]:
    """Parse RIS text (newlines already ``\\n``) into checked records."""
    records: list[ParsedRecord] = []
    for index, (line, lines, tags) in enumerate(_entries(text), start=1):
        records.append(parsed_record_build(
            record=index, line=line, raw_entry="\n".join(lines),
            # T1/TI: title; CT is EBSCO's title in some exports; ST (short title) as a last resort.
            title=_get(tags, "TI", "T1") or _get(tags, "CT") or _get(tags, "ST"),
            # N2 and AB: a wrapped abstract arrives as several values; join the first tag's values.
            abstract=_get(tags, "AB") or _get(tags, "N2"),
            authors=_get(tags, "AU") or _get(tags, "A1"),
            year=_get(tags, "PY", "Y1", "DA"),
            journal=_get(tags, "JF", "JO", "T2", "JA", "J2") or _get(tags, "J1"),
            volume=_get(tags, "VL"),
            issue=_get(tags, "IS") or _get(tags, "CP"),
            start_page=next(iter(_get(tags, "SP")), None),
            end_page=next(iter(_get(tags, "EP")), None),
            doi=_get(tags, "DO") or [v for v in _get(tags, "M3", "N1", "UR", "L2") if "doi.org/10." in v.lower()],
            # PubMed's RIS puts the PMID in AN, but Embase and PsycInfo put their own accession numbers
            # there: AN counts only when the entry says it came from PubMed/MEDLINE.
            pmid=[v for v in _get(tags, "AN") if v.isdigit() and _is_pubmed(tags)]
            + [v.removeprefix("PMID:").strip() for v in _get(tags, "PM", "C2", "N1")
               if v.upper().startswith("PMID:")],
            nct_sources=_get(tags, "AN", "N1", "M1", "UR", "C1", "C3", "C4") + _get(tags, "RN"),
            keywords=_get(tags, "KW"),
            language=_get(tags, "LA"),
            publication_type=_get(tags, "TY", "M3"),
            url=_get(tags, "UR", "L2", "L1"),
        ))
    return records


def _is_pubmed(tags: dict) -> bool:
    databases = " ".join(_get(tags, "DB", "DP")).lower()
    return "pubmed" in databases or "medline" in databases or "nlm" in databases
