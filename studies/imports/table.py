"""CSV exports (Scopus, PubMed "Create File", Web of Science, Covidence, Rayyan, Zotero, spreadsheets)
with a column mapping."""
import csv
from collections.abc import Mapping
import re

from studies.imports.errors import ImportFileError, RecordWarning, WarningKind
from studies.imports.records import ParsedRecord, parsed_record_build

# Record field → headers used by the databases' and review tools' own CSV exports (compared
# case-insensitively; the first present wins). Covidence: Title, Authors, Abstract, Published Year,
# Journal, Volume, Issue, Pages, Accession Number, DOI, Covidence #, Tags. Rayyan: key, title, year,
# journal, volume, issue, pages, authors, url, language, abstract, notes, doi, keywords, pubmed_id.
# Zotero: Key, Item Type, Publication Year, Author, Title, Publication Title, DOI, Url, Abstract Note,
# Pages, Issue, Volume, Short Title, Language, Extra, Manual Tags, Automatic Tags.
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "title": ("title", "article title", "document title", "primary title", "ti"),
    "abstract": ("abstract", "abstract note", "notes_abstract", "ab"),
    "authors": ("authors", "author", "author full names", "author(s)", "au"),
    "year": ("year", "publication year", "published year", "py", "pubyear", "publication date", "date"),
    "journal": ("source title", "journal", "publication title", "journal/book", "source", "journal title",
                "secondary title", "so"),
    "volume": ("volume", "vol", "vl"),
    "issue": ("issue", "number", "is"),
    "pages": ("pages", "page range"),
    "start_page": ("page start", "start page", "bp"),
    "end_page": ("page end", "end page", "ep"),
    "doi": ("doi", "di"),
    "pmid": ("pmid", "pubmed id", "pubmed_id", "pubmed", "pm"),
    "nct_id": ("nct id", "nct number", "trial registration", "registration number"),
    "keywords": ("author keywords", "keywords", "manual tags", "index keywords", "mesh terms", "de"),
    "language": ("language", "language of original document", "la"),
    "publication_type": ("document type", "publication type", "item type", "type", "dt"),
    "url": ("link", "url"),
}
# Fields a title is taken from (with a warning) when a row has none.
TITLE_ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "short title": ("short title",),
    "translated title": ("translated title",),
}


def _split_authors(value: str) -> list[str]:
    # Scopus, Covidence and Zotero separate authors with ";" ("Smith, J.; Doe, A."); Rayyan with " and "
    # ("Smith, J. and Doe, A."); PubMed's CSV with ", " ("Smith J, Doe A.").
    if ";" in value:
        return [a.strip() for a in value.split(";")]
    if " and " in value:
        return [a.strip() for a in value.split(" and ")]
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


def _alternative_columns(header: list[str]) -> list[tuple[str, int]]:
    lowered = {name.strip().lower(): position for position, name in enumerate(header)}
    return [(label, lowered[name]) for label, names in TITLE_ALTERNATIVES.items() for name in names
            if name in lowered]


def csv_parse(text: str, *, column_mapping: Mapping[str, str] | None = None) -> list[ParsedRecord]:
    """Parse a CSV (or tab/semicolon separated) export; the first row is the header."""
    # Exports quote the way Excel does (doubled quotes inside quoted cells) and differ only in their
    # delimiter, which the header row shows; csv.Sniffer guesses quoting from the data and gets
    # abstracts with quotes in them wrong.
    header_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    # Lines at "\n" only (newlines are normalised already): str.splitlines would also split at the
    # form feeds and line separators abstracts hold, and misnumber the lines.
    lines = [f"{line}\n" for line in text.split("\n")]
    # Not strict: a stray quote inside a cell (Rayyan's notes) is read as text rather than refused.
    reader = csv.reader(lines, csv.excel, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("The file is empty.", line=1, field="header") from None
    except csv.Error as error:
        raise ImportFileError(f"The header row is not valid CSV ({error}).", line=1, field="header") from None
    if header:
        header[0] = header[0].lstrip("\ufeff")
    columns = _columns(header, column_mapping)
    alternatives = _alternative_columns(header)
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
        warnings = []
        if len(row) > len(header):
            warnings.append(RecordWarning(WarningKind.ROW_CELLS, f"{len(row)} cells but the header has "
                                          f"{len(header)}; the cells beyond the header were ignored.",
                                          line=start, field=None))
        values = {field: (row[position] if position < len(row) else "") for field, position in columns.items()}
        records.append(parsed_record_build(
            record=len(records) + 1, line=start, raw_entry="".join(lines[start - 1:end]).rstrip("\n"),
            warnings=warnings,
            title=values.get("title"), abstract=values.get("abstract"),
            title_alternatives=[(label, row[position] if position < len(row) else "")
                                for label, position in alternatives],
            authors=_split_authors(values["authors"]) if values.get("authors") else None,
            year=values.get("year"), journal=values.get("journal"), volume=values.get("volume"),
            issue=values.get("issue"), pages=values.get("pages"),
            start_page=values.get("start_page"), end_page=values.get("end_page"),
            doi=values.get("doi"), pmid=values.get("pmid"),
            nct_id=values.get("nct_id"),
            keywords=[k for k in re.split(r"[;|]", values["keywords"])] if values.get("keywords") else None,
            language=values.get("language"), publication_type=values.get("publication_type"),
            url=values.get("url"),
        ))
        start = end + 1
    if not records:
        raise ImportFileError("The CSV has a header but no records.", line=2, field=None)
    return records
