"""RIS (Embase/Ovid, PubMed, Web of Science, Scopus, PsycInfo/EBSCO, Cochrane, EndNote, Zotero).

rispy reads the tag lines of each entry; this module finds the entries (so that every record keeps its
raw text and line number, and a missing ``ER`` is an error rather than a silently dropped record) and
maps the tags of the different flavours onto ``Record``.
"""
from collections.abc import Iterator

from rispy import RisParser, TAG_KEY_MAPPING

from studies.imports.errors import ImportFileError
from studies.imports.records import ParsedRecord, parsed_record_build


class _TagListParser(RisParser):
    """rispy with every tag kept under its own name as a list of values, in file order.

    Flavours disagree on which tag carries what (Ovid writes the abstract in N2, EBSCO in AB; Ovid
    writes authors in A1, others in AU) and repeat tags freely, so the mapping is done here, not by
    rispy's fixed names. Untagged lines (wrapped abstracts, Ovid's "Link to …" lines) become further
    values of the tag above them.
    """

    PATTERN = r"^[A-Z][A-Z0-9]  - "
    DEFAULT_MAPPING = {tag: tag for tag in TAG_KEY_MAPPING if tag != "UK"} | {"UK": "unknown"}
    DEFAULT_LIST_TAGS = [tag for tag in TAG_KEY_MAPPING if tag not in ("TY", "ER", "UK")]


_PARSER = _TagListParser(delimiter_tags_mapping={})


def _is_tag(line: str, tag: str) -> bool:
    return line.startswith(tag) and line[2:5] == "  -"


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


def _entries(text: str) -> Iterator[tuple[int, list[str]]]:
    """The file's entries ``(first line number, lines TY … ER)``, in order, as they are read.

    A structural error is raised when reached, so an earlier record's field error comes first.
    """
    count = 0
    current: list[str] | None = None
    start = 0
    for number, line in enumerate(_lines(text), start=1):
        if _is_tag(line, "TY"):
            if current is not None:
                raise ImportFileError(
                    f"A new record starts (TY) before the record from line {start} ended (ER).",
                    record=count + 1, line=number, field="ER")
            current, start = [line], number
        elif current is not None:
            current.append(line)
            if _is_tag(line, "ER") or line.rstrip() == "ER  -" or line.rstrip() == "ER":
                count += 1
                yield start, current
                current = None
        elif line.strip() and count:
            raise ImportFileError("Text outside a record (a record must start with TY  - ).",
                                  record=count + 1, line=number, field="TY")
    if current is not None:
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
    for index, (line, lines) in enumerate(_entries(text), start=1):
        # A stray "ER" without its separator still closes the entry for us but not for rispy.
        if not _is_tag(lines[-1], "ER"):
            lines = [*lines[:-1], "ER  - "]
        parsed = _PARSER.parse_lines(iter(lines))
        if len(parsed) != 1:
            raise ImportFileError("This record could not be read.", record=index, line=line, field="TY")
        tags = parsed[0]
        unknown = tags.get("unknown", {})
        records.append(parsed_record_build(
            record=index, line=line, raw_entry="\n".join(lines),
            # T1/TI: title; CT is EBSCO's title in some exports; ST (short title) as a last resort.
            title=_get(tags, "TI", "T1") or unknown.get("CT", []) or _get(tags, "ST"),
            # N2 and AB: a wrapped abstract arrives as several values; join the first tag's values.
            abstract=_get(tags, "AB") or _get(tags, "N2"),
            authors=_get(tags, "AU") or _get(tags, "A1"),
            year=_get(tags, "PY", "Y1", "DA"),
            journal=_get(tags, "JF", "JO", "T2", "JA", "J2") or unknown.get("J1", []),
            volume=_get(tags, "VL"),
            issue=_get(tags, "IS") or unknown.get("CP", []),
            start_page=next(iter(_get(tags, "SP")), None),
            end_page=next(iter(_get(tags, "EP")), None),
            doi=_get(tags, "DO") or [v for v in _get(tags, "M3", "N1", "UR", "L2") if "doi.org/10." in v.lower()],
            # PubMed's RIS puts the PMID in AN, but Embase and PsycInfo put their own accession numbers
            # there: AN counts only when the entry says it came from PubMed/MEDLINE.
            pmid=[v for v in _get(tags, "AN") if v.isdigit() and _is_pubmed(tags)]
            + [v.removeprefix("PMID:").strip() for v in unknown.get("PM", []) + _get(tags, "C2", "N1")
               if v.upper().startswith("PMID:")],
            nct_sources=_get(tags, "AN", "N1", "M1", "UR", "C1", "C3", "C4") + unknown.get("RN", []),
            keywords=_get(tags, "KW"),
            language=_get(tags, "LA"),
            publication_type=[tags.get("TY", "")] + _get(tags, "M3"),
            url=_get(tags, "UR", "L2", "L1"),
        ))
    return records


def _is_pubmed(tags: dict) -> bool:
    databases = " ".join(_get(tags, "DB", "DP")).lower()
    return "pubmed" in databases or "medline" in databases or "nlm" in databases
