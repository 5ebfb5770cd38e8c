"""The two line-tagged formats without a maintained parser that keeps line numbers: PubMed MEDLINE
(``.nbib``/``.txt``: ``TAG - value``, tags padded to four characters, continuation lines indented six
spaces, records separated by blank lines) and Web of Science plain text (``TG value``, continuation
lines indented three spaces, records closed by ``ER``, the file by ``EF``)."""
from collections import defaultdict
import re

from studies.imports.errors import ImportFileError, RecordWarning, WarningKind
from studies.imports.records import ParsedRecord, parsed_record_build

_MEDLINE_TAG = re.compile(r"([A-Z][A-Z0-9]{0,3}) *- ?(.*)")
_WOS_TAG = re.compile(r"^([A-Z][A-Z0-9]) ?(.*)$")

Tags = dict[str, list[str]]
Entry = tuple[int, list[str], Tags, list[RecordWarning]]


def _unrecognised(line: str, number: int, what: str) -> RecordWarning:
    return RecordWarning(WarningKind.LINE_UNRECOGNISED,
                         f"{line.strip()[:60]!r} is not a {what} tag line; it was read as part of the value "
                         "above it.", line=number, field=None)


def _outside(line: str, number: int) -> RecordWarning:
    return RecordWarning(WarningKind.TEXT_OUTSIDE_RECORD,
                         f"Text before this record was ignored: {line.strip()[:80]!r}.", line=number, field=None)


def _medline_entries(text: str) -> list[Entry]:
    """MEDLINE records: tag lines (``TAG - value``, the tag padded to four characters), continuation
    lines (indented, for any tag), records separated by blank lines. Any other line continues the
    value above it, with a warning; before a record's first tag it is named on that record."""
    entries: list[Entry] = []
    lines: list[str] = []
    tags: Tags = defaultdict(list)
    warnings: list[RecordWarning] = []
    start = 0
    last: str | None = None

    def close() -> None:
        if tags:
            entries.append((start, lines.copy(), dict(tags), warnings.copy()))
            lines.clear()
            warnings.clear()
        tags.clear()

    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            close()
            last = None
            continue
        if line[0] in " \t" and last is not None:
            tags[last][-1] += " " + line.strip()
        elif len(line) > 4 and line[4] == "-" and (match := _MEDLINE_TAG.match(line)):
            if not tags:
                start = number
            last = match.group(1)
            tags[last].append(match.group(2).strip())
        elif last is not None:
            tags[last][-1] += " " + line.strip()
            warnings.append(_unrecognised(line, number, "MEDLINE"))
        else:
            warnings.append(_outside(line, number))
        lines.append(line)
    close()
    if not entries:
        raise ImportFileError("No MEDLINE records (no \"PMID- \" or \"TI  - \" lines).", line=1, field="PMID")
    return entries


def _medline_doi(tags: Tags) -> list[str]:
    return [v.removesuffix("[doi]").strip() for v in tags.get("LID", []) + tags.get("AID", []) if v.endswith("[doi]")]


def medline_parse(text: str) -> list[ParsedRecord]:
    """Parse PubMed's MEDLINE format (``Send to → Citation manager``, ``.nbib``)."""
    records = []
    for index, (line, lines, tags, warnings) in enumerate(_medline_entries(text), start=1):
        records.append(parsed_record_build(
            record=index, line=line, raw_entry="\n".join(lines), warnings=warnings,
            # A book's record has its title in BTI; the transliterated (TT) or vernacular (VTI) title
            # stands in when there is neither.
            title=tags.get("TI") or tags.get("BTI"),
            title_alternatives=(("transliterated title (TT)", tags.get("TT")),
                                ("vernacular title (VTI)", tags.get("VTI"))),
            abstract=tags.get("AB"),
            authors=tags.get("FAU") or tags.get("AU"),
            year=tags.get("DP") or tags.get("DEP"),
            journal=tags.get("JT") or tags.get("TA"),
            volume=tags.get("VI"), issue=tags.get("IP"), pages=tags.get("PG"),
            doi=_medline_doi(tags), pmid=tags.get("PMID"),
            nct_sources=tags.get("SI", []) + tags.get("OID", []),
            keywords=tags.get("OT", []) + tags.get("MH", []),
            language=tags.get("LA"), publication_type=tags.get("PT"),
            url=[f"https://pubmed.ncbi.nlm.nih.gov/{tags['PMID'][0]}/"] if tags.get("PMID") else None,
        ))
    return records


def _wos_entries(text: str) -> list[Entry]:
    """Web of Science records: ``PT`` to ``ER``, continuation lines indented three spaces. A line that
    is no tag line continues the value above it, with a warning; text between records is named on the
    record after it; a record the file ends before its ``ER`` is kept, with a warning."""
    entries: list[Entry] = []
    lines: list[str] = []
    tags: Tags = defaultdict(list)
    warnings: list[RecordWarning] = []
    start = 0
    last: str | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.rstrip()
        if not lines:
            if not stripped or stripped == "EF" or stripped.startswith(("FN ", "VR ")):
                continue  # file header and trailer, blank lines between records
            if not stripped.startswith("PT "):
                warnings.append(_outside(line, number))
                continue
            start = number
        lines.append(line)
        if not stripped:
            continue  # a blank line inside a record (some tools write them): nothing to read
        if stripped == "ER":
            entries.append((start, lines.copy(), dict(tags), warnings.copy()))
            lines.clear()
            tags.clear()
            warnings.clear()
            last = None
        elif line.startswith(" ") and last is not None:
            tags[last].append(line.strip())  # AU/AF/C1 continuation lines are further values
        elif (match := _WOS_TAG.match(stripped)) and (len(stripped) == 2 or stripped[2] == " "):
            last = match.group(1)
            tags[last].append(match.group(2).strip())
        elif last is not None:
            tags[last].append(line.strip())
            warnings.append(_unrecognised(line, number, "Web of Science"))
    if lines:
        warnings.append(RecordWarning(WarningKind.RECORD_NOT_CLOSED, "The file ends before this record's ER "
                                      "line; the record was read to the end of the file.", line=start, field="ER"))
        entries.append((start, lines.copy(), dict(tags), warnings.copy()))
    if not entries:
        raise ImportFileError("No Web of Science records (no \"PT \" lines).", line=1, field="PT")
    return entries


# Tags whose continuation lines continue one text rather than add list items.
_WOS_TEXT = ("TI", "AB", "SO", "DE", "ID")


def wos_parse(text: str) -> list[ParsedRecord]:
    """Parse Web of Science "Plain text file" exports (Full Record)."""
    records = []
    for index, (line, lines, tags, warnings) in enumerate(_wos_entries(text), start=1):
        joined = {tag: " ".join(tags.get(tag, [])) for tag in _WOS_TEXT}
        keywords = [k.strip() for tag in ("DE", "ID") for k in joined[tag].split(";") if k.strip()]
        records.append(parsed_record_build(
            record=index, line=line, raw_entry="\n".join(lines), warnings=warnings,
            title=joined["TI"], abstract=joined["AB"],
            # Z1: the title in English of a record from a regional index (Chinese, Korean, SciELO).
            title_alternatives=(("translated title (Z1)", " ".join(tags.get("Z1", []))),
                                ("book series title (SE)", tags.get("SE"))),
            authors=tags.get("AF") or tags.get("AU"),
            year=tags.get("PY") or tags.get("EA") or tags.get("PD"),
            journal=joined["SO"], volume=tags.get("VL"), issue=tags.get("IS"),
            start_page=next(iter(tags.get("BP", [])), None) or next(iter(tags.get("AR", [])), None),
            end_page=next(iter(tags.get("EP", [])), None),
            doi=tags.get("DI"), pmid=tags.get("PM"), nct_sources=[joined["AB"]],
            keywords=keywords, language=tags.get("LA"), publication_type=tags.get("DT"),
            url=None,
        ))
    return records
