"""The two line-tagged formats without a maintained parser that keeps line numbers: PubMed MEDLINE
(``.nbib``/``.txt``: ``TAG - value``, tags padded to four characters, continuation lines indented six
spaces, records separated by blank lines) and Web of Science plain text (``TG value``, continuation
lines indented three spaces, records closed by ``ER``, the file by ``EF``)."""
from collections import defaultdict
import re

from studies.imports.errors import ImportFileError
from studies.imports.records import ParsedRecord, parsed_record_build

_MEDLINE_TAG = re.compile(r"^([A-Z][A-Z0-9]{0,3}) {0,3}- ?(.*)$")
_WOS_TAG = re.compile(r"^([A-Z][A-Z0-9]) ?(.*)$")

Tags = dict[str, list[str]]


def _medline_entries(text: str) -> list[tuple[int, list[str], Tags]]:
    entries: list[tuple[int, list[str], Tags]] = []
    lines: list[str] = []
    tags: Tags = defaultdict(list)
    start = 0
    last: str | None = None

    def close() -> None:
        if lines:
            entries.append((start, lines.copy(), dict(tags)))
        lines.clear()
        tags.clear()

    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            close()
            last = None
            continue
        if line.startswith("      ") and last is not None:
            tags[last][-1] += " " + line.strip()
        elif (match := _MEDLINE_TAG.match(line)) and line[4:6] == "- ":
            if not lines:
                start = number
            last = match.group(1)
            tags[last].append(match.group(2).strip())
        else:
            raise ImportFileError(
                f"{line[:40]!r} is neither a MEDLINE tag line (\"TI  - …\") nor an indented continuation.",
                record=len(entries) + 1, line=number, field=line[:4].strip() or None)
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
    for index, (line, lines, tags) in enumerate(_medline_entries(text), start=1):
        records.append(parsed_record_build(
            record=index, line=line, raw_entry="\n".join(lines),
            title=tags.get("TI") or tags.get("BTI") or tags.get("TT"),
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


def _wos_entries(text: str) -> list[tuple[int, list[str], Tags]]:
    entries: list[tuple[int, list[str], Tags]] = []
    lines: list[str] = []
    tags: Tags = defaultdict(list)
    start = 0
    last: str | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.rstrip()
        if not lines:
            if not stripped or stripped == "EF" or stripped.startswith(("FN ", "VR ")):
                continue  # file header and trailer, blank lines between records
            if not stripped.startswith("PT "):
                raise ImportFileError("A Web of Science record must start with \"PT \".",
                                      record=len(entries) + 1, line=number, field="PT")
            start = number
        lines.append(line)
        if stripped == "ER":
            entries.append((start, lines.copy(), dict(tags)))
            lines.clear()
            tags.clear()
            last = None
        elif line.startswith("   ") and last is not None:
            tags[last].append(line.strip())  # AU/AF/C1 continuation lines are further values
        elif (match := _WOS_TAG.match(stripped)) and (len(stripped) == 2 or stripped[2] == " "):
            last = match.group(1)
            tags[last].append(match.group(2).strip())
        else:
            raise ImportFileError(f"{line[:40]!r} is neither a tag line nor an indented continuation.",
                                  record=len(entries) + 1, line=number, field=None)
    if lines:
        raise ImportFileError(f"The record from line {start} never ends (no ER line).",
                              record=len(entries) + 1, line=start, field="ER")
    if not entries:
        raise ImportFileError("No Web of Science records (no \"PT \" lines).", line=1, field="PT")
    return entries


# Tags whose continuation lines continue one text rather than add list items.
_WOS_TEXT = ("TI", "AB", "SO", "DE", "ID")


def wos_parse(text: str) -> list[ParsedRecord]:
    """Parse Web of Science "Plain text file" exports (Full Record)."""
    records = []
    for index, (line, lines, tags) in enumerate(_wos_entries(text), start=1):
        joined = {tag: " ".join(tags.get(tag, [])) for tag in _WOS_TEXT}
        keywords = [k.strip() for tag in ("DE", "ID") for k in joined[tag].split(";") if k.strip()]
        records.append(parsed_record_build(
            record=index, line=line, raw_entry="\n".join(lines),
            title=joined["TI"], abstract=joined["AB"],
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
