"""Format detection and the one entry point from bytes to checked records."""
from collections.abc import Mapping
from dataclasses import dataclass
import hashlib
import re

from studies.imports.bibtex import bibtex_parse
from studies.imports.endnote_xml import endnote_xml_parse
from studies.imports.errors import ImportFileError
from studies.imports.records import ParsedRecord
from studies.imports.ris import ris_parse
from studies.imports.table import csv_parse
from studies.imports.tagged import medline_parse, wos_parse
from studies.imports.text import file_decode
from studies.models.records import ImportFormat

AUTO = "auto"


def format_detect(text: str) -> str:
    """Recognise the export format from the file's content (never from its name, which users rename)."""
    head = text[:20000].lstrip("\ufeff \n\t")
    if head.startswith("<") and re.search(r"<records?\b", head):
        return ImportFormat.ENDNOTE_XML
    if re.search(r"^TY  -", head, re.MULTILINE):
        return ImportFormat.RIS
    if re.search(r"^(PMID|TI  |AU  |FAU )- ", head, re.MULTILINE):
        return ImportFormat.MEDLINE
    if re.match(r"(FN |VR |PT [A-Z]\b)", head) and re.search(r"^ER\s*$", text, re.MULTILINE):
        return ImportFormat.WOS
    if re.search(r"^\s*@\w+\s*[{(]", head, re.MULTILINE):
        return ImportFormat.BIBTEX
    first = head.split("\n", 1)[0]
    if any(sep in first for sep in (",", ";", "\t")) and re.search(r"title", first, re.IGNORECASE):
        return ImportFormat.CSV
    raise ImportFileError(
        "The format was not recognised (RIS, MEDLINE, EndNote XML, BibTeX, CSV with a title column, "
        "Web of Science plain text). Choose the format explicitly if it is one of these.",
        line=1, field="format")


@dataclass(frozen=True)
class ParsedFile:
    """A whole export file, parsed and checked: nothing of it has been written yet."""

    records: tuple[ParsedRecord, ...]
    file_format: str
    encoding: str
    sha256: str
    warnings: tuple[str, ...] = ()


def file_parse(*, content: bytes, file_format: str = AUTO,
               column_mapping: Mapping[str, str] | None = None) -> ParsedFile:
    """Decode, detect (unless ``file_format`` is given) and parse a whole file.

    Raises
    ------
    ImportFileError
        For anything wrong with the file, naming record, line and field where known.
    """
    decoded = file_decode(content=content)
    if file_format in (AUTO, "", None):
        # A column mapping only applies to CSV, so giving one says what the file is.
        chosen = ImportFormat.CSV if column_mapping else format_detect(decoded.text)
    else:
        chosen = file_format
    if chosen not in ImportFormat.values:
        raise ImportFileError(f"Unknown format {chosen!r}; choose one of {', '.join(ImportFormat.values)}.",
                              field="format")
    if column_mapping and chosen != ImportFormat.CSV:
        raise ImportFileError("A column mapping applies only to CSV files.", field="format")
    text = decoded.text.lstrip("\ufeff")
    try:
        if chosen == ImportFormat.RIS:
            records = ris_parse(text)
        elif chosen == ImportFormat.MEDLINE:
            records = medline_parse(text)
        elif chosen == ImportFormat.WOS:
            records = wos_parse(text)
        elif chosen == ImportFormat.BIBTEX:
            records = bibtex_parse(text)
        elif chosen == ImportFormat.ENDNOTE_XML:
            records = endnote_xml_parse(text)
        else:
            records = csv_parse(text, column_mapping=column_mapping)
    except RecursionError:
        raise ImportFileError("The file is nested too deeply to read.", field="format") from None
    return ParsedFile(
        records=tuple(records), file_format=chosen, encoding=decoded.encoding,
        sha256=hashlib.sha256(content).hexdigest(),
        warnings=(decoded.warning,) if decoded.warning else (),
    )
