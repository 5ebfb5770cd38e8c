"""Format detection and the one entry point from bytes to checked records."""
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import hashlib
import re

from studies.imports.bibtex import bibtex_parse
from studies.imports.endnote_xml import endnote_xml_parse
from studies.imports.errors import ImportFileError
from studies.imports.records import ParsedRecord
from studies.imports.pubmed_xml import pubmed_xml_parse
from studies.imports.refer import refer_detect, refer_parse
from studies.imports.ris import ris_records
from studies.imports.table import csv_parse
from studies.imports.tagged import medline_parse, wos_parse
from studies.imports.text import file_decode
from studies.models.records import ImportFormat

AUTO = "auto"
# The formats a file can have (a living search's API batches are not files).
FILE_FORMATS = [value for value in ImportFormat.values if value != ImportFormat.SEARCH_API]
FILE_FORMAT_CHOICES = [(value, label) for value, label in ImportFormat.choices if value in FILE_FORMATS]


def format_detect(text: str) -> str:
    """Recognise the export format from the file's content (never from its name, which users rename)."""
    head = text[:20000].lstrip("\ufeff \n\t")
    if head.startswith("<") and re.search(r"<PubmedArticleSet\b", head):
        return ImportFormat.PUBMED_XML
    if head.startswith("<") and re.search(r"<records?\b", head):
        return ImportFormat.ENDNOTE_XML
    # RIS, also as some exporters lay it out: "TY - ", indented, numbered records ("1. TY  - ", "<1>").
    if re.search(r"^[ \t]*(?:<\d+>|\d+\.|\[\d+\])?[ \t]*TY {1,2}-", head, re.MULTILINE):
        return ImportFormat.RIS
    if re.search(r"^(PMID|TI  |AU  |FAU )- ", head, re.MULTILINE):
        return ImportFormat.MEDLINE
    if re.match(r"(FN |VR |PT [A-Z]\b)", head) and re.search(r"^ER\s*$", text, re.MULTILINE):
        return ImportFormat.WOS
    if refer_detect(head):
        return ImportFormat.REFER
    if re.search(r"^\s*@\w+\s*[{(]", head, re.MULTILINE):
        return ImportFormat.BIBTEX
    first = head.split("\n", 1)[0]
    # A header with a title column: "Title", "Article Title"…, or Web of Science's tab-delimited "TI".
    if any(sep in first for sep in (",", ";", "\t")) and re.search(r"title|(?:^|[,;\t])\"?TI\"?(?:[,;\t]|$)", first,
                                                                    re.IGNORECASE):
        return ImportFormat.CSV
    raise ImportFileError(
        "The format was not recognised (RIS, MEDLINE, PubMed XML, EndNote XML, EndNote tagged text, BibTeX, CSV with a "
        "title column, Web of Science plain text). Choose the format explicitly if it is one of these.",
        line=1, field="format")


@dataclass(frozen=True)
class ParsedStream:
    """An export file decoded and recognised, whose records are checked as they are read.

    A quirk in a record is a warning on it (``ParsedRecord.warnings``); ``records`` raises
    ``ImportFileError`` only for a file that turns out not to be an export, so a consumer writing as
    it reads must still do so inside a transaction.
    """

    records: Iterator[ParsedRecord]
    file_format: str
    encoding: str
    sha256: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedFile:
    """A whole export file, parsed and checked: nothing of it has been written yet."""

    records: tuple[ParsedRecord, ...]
    file_format: str
    encoding: str
    sha256: str
    warnings: tuple[str, ...] = ()


def file_open(*, content: bytes, file_format: str = AUTO,
              column_mapping: Mapping[str, str] | None = None) -> ParsedStream:
    """Decode and detect (unless ``file_format`` is given) a file; its records are read on demand.

    RIS, the format of the largest exports, is read one record at a time; the other formats are read
    whole here (their parsers are libraries, or files of that size do not occur).

    Raises
    ------
    ImportFileError
        For a file that is not of a known format or cannot be decoded (here), or that turns out not to
        be an export (when iterated).
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        # hashlib lets go of the GIL while it hashes, so the digest costs no time beside decoding.
        digest = pool.submit(lambda: hashlib.sha256(content).hexdigest())
        decoded = file_decode(content=content)
        sha256 = digest.result()
    if file_format in (AUTO, "", None):
        # A column mapping only applies to CSV, so giving one says what the file is.
        chosen = ImportFormat.CSV if column_mapping else format_detect(decoded.text)
    else:
        chosen = file_format
    if chosen not in ImportFormat.values or chosen == ImportFormat.SEARCH_API:
        raise ImportFileError(f"Unknown format {chosen!r}; choose one of {', '.join(FILE_FORMATS)}.",
                              field="format")
    if column_mapping and chosen != ImportFormat.CSV:
        raise ImportFileError("A column mapping applies only to CSV files.", field="format")
    text = decoded.text.lstrip("\ufeff")
    if chosen == ImportFormat.RIS:
        records: Iterator[ParsedRecord] = ris_records(text)
    else:
        try:
            if chosen == ImportFormat.MEDLINE:
                parsed = medline_parse(text)
            elif chosen == ImportFormat.WOS:
                parsed = wos_parse(text)
            elif chosen == ImportFormat.BIBTEX:
                parsed = bibtex_parse(text)
            elif chosen == ImportFormat.PUBMED_XML:
                parsed = pubmed_xml_parse(text)
            elif chosen == ImportFormat.ENDNOTE_XML:
                parsed = endnote_xml_parse(text)
            elif chosen == ImportFormat.REFER:
                parsed = refer_parse(text)
            else:
                parsed = csv_parse(text, column_mapping=column_mapping)
        except RecursionError:
            raise ImportFileError("The file is nested too deeply to read.", field="format") from None
        records = iter(parsed)
    return ParsedStream(
        records=records, file_format=chosen, encoding=decoded.encoding, sha256=sha256,
        warnings=(decoded.warning,) if decoded.warning else (),
    )


def file_parse(*, content: bytes, file_format: str = AUTO,
               column_mapping: Mapping[str, str] | None = None) -> ParsedFile:
    """Decode, detect (unless ``file_format`` is given) and parse a whole file.

    Raises
    ------
    ImportFileError
        For a file that is not an export or cannot be decoded, naming the line and part where known.
        A quirk in one record is a warning on that record instead.
    """
    stream = file_open(content=content, file_format=file_format, column_mapping=column_mapping)
    return ParsedFile(records=tuple(stream.records), file_format=stream.file_format, encoding=stream.encoding,
                      sha256=stream.sha256, warnings=stream.warnings)
