"""CSV exports (Scopus, PubMed "Create File", Covidence, spreadsheets) with a column mapping."""
import csv
from collections.abc import Mapping
import re

from studies.imports.errors import ImportFileError
from studies.imports.records import ParsedRecord, parsed_record_build

# Record field → headers used by the databases' own CSV exports (compared case-insensitively).
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "title": ("title", "article title", "document title", "primary title"),
    "abstract": ("abstract", "notes_abstract"),
    "authors": ("authors", "author", "author full names", "author(s)"),
    "year": ("year", "publication year", "py", "pubyear", "publication date"),
    "journal": ("source title", "journal", "journal/book", "source", "journal title", "secondary title"),
    "volume": ("volume", "vol"),
    "issue": ("issue", "number"),
    "pages": ("pages", "page range"),
    "start_page": ("page start", "start page"),
    "end_page": ("page end", "end page"),
    "doi": ("doi",),
    "pmid": ("pmid", "pubmed id", "pubmed"),
    "nct_id": ("nct id", "nct number", "trial registration", "registration number"),
    "keywords": ("author keywords", "keywords", "index keywords", "mesh terms"),
    "language": ("language", "language of original document"),
    "publication_type": ("document type", "publication type", "type"),
    "url": ("link", "url"),
}
_LIST_FIELDS = ("authors", "keywords")


def _split_authors(value: str) -> list[str]:
    # Scopus separates authors with ";" ("Smith, J.; Doe, A."); PubMed's CSV with ", " ("Smith J, Doe A.").
    if ";" in value:
        return [a.strip() for a in value.split(";")]
    return [a.strip().rstrip(".") for a in value.split(", ")]


def _columns(header: list[str], mapping: Mapping[str, str] | None) -> dict[str, int]:
    lowered = {name.strip().lower(): position for position, name in enumerate(header)}
    columns: dict[str, int] = {}
    for field, names in DEFAULT_COLUMNS.items():
        for name in names:
            if name in lowered:
                columns[field] = lowered[name]
                break
    for field, name in (mapping or {}).items():
        if field not in DEFAULT_COLUMNS:
            raise ImportFileError(f"The column mapping names {field!r}, which records do not have.",
                                  line=1, field=field)
        if name.strip().lower() not in lowered:
            raise ImportFileError(f"The column mapping points {field!r} at {name!r}, which is not in the header.",
                                  line=1, field=field)
        columns[field] = lowered[name.strip().lower()]
    if "title" not in columns:
        raise ImportFileError("No title column (map one, e.g. title=\"Article Title\").", line=1, field="title")
    return columns


def csv_parse(text: str, *, column_mapping: Mapping[str, str] | None = None) -> list[ParsedRecord]:
    """Parse a CSV (or tab/semicolon separated) export; the first row is the header."""
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    lines = text.splitlines(keepends=True)
    reader = csv.reader(lines, dialect, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("The file is empty.", line=1, field="header") from None
    except csv.Error as error:
        raise ImportFileError(f"The header row is not valid CSV ({error}).", line=1, field="header") from None
    columns = _columns(header, column_mapping)
    records = []
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise ImportFileError(f"Not valid CSV ({error}).", record=len(records) + 1, line=start,
                                  field=None) from None
        end = reader.line_num
        if not any(cell.strip() for cell in row):
            start = end + 1
            continue
        if len(row) > len(header):
            raise ImportFileError(f"{len(row)} cells but the header has {len(header)}.",
                                  record=len(records) + 1, line=start, field=None)
        values = {field: (row[position] if position < len(row) else "") for field, position in columns.items()}
        records.append(parsed_record_build(
            record=len(records) + 1, line=start, raw_entry="".join(lines[start - 1:end]).rstrip("\n"),
            title=values.get("title"), abstract=values.get("abstract"),
            authors=_split_authors(values["authors"]) if values.get("authors") else None,
            year=values.get("year"), journal=values.get("journal"), volume=values.get("volume"),
            issue=values.get("issue"), pages=values.get("pages"),
            start_page=values.get("start_page"), end_page=values.get("end_page"),
            doi=values.get("doi"), pmid=values.get("pmid"),
            nct_sources=[values["nct_id"]] if values.get("nct_id") else None,
            keywords=[k for k in re.split(r"[;|]", values["keywords"])] if values.get("keywords") else None,
            language=values.get("language"), publication_type=values.get("publication_type"),
            url=values.get("url"),
        ))
        start = end + 1
    if not records:
        raise ImportFileError("The CSV has a header but no records.", line=2, field=None)
    return records
