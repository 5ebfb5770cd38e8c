"""Parsed records: what every parser produces, already checked against the rules of ``Record``."""
from collections.abc import Iterable
from dataclasses import dataclass
import re

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from studies.imports.errors import ImportFileError
from studies.models.validators import DOI_PATTERN, NCT_PATTERN, PMID_PATTERN, normalise_doi, validate_year


@dataclass(frozen=True)
class ParsedRecord:
    """One record of an export file, in the fields of ``studies.models.Record``."""

    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    year: int | None = None
    journal: str = ""
    volume: str = ""
    issue: str = ""
    pages: str = ""
    doi: str = ""
    pmid: str = ""
    nct_id: str = ""
    keywords: tuple[str, ...] = ()
    language: str = ""
    publication_type: str = ""
    url: str = ""
    raw_entry: str = ""
    record: int = 0
    line: int = 0


# Field lengths of studies.models.Record, checked here so the error can name the record.
MAX_LENGTHS = {"journal": 500, "volume": 50, "issue": 50, "pages": 50, "language": 50,
               "authors": 300, "keywords": 300}
PUBLICATION_TYPE_MAX = 200
URL_MAX = 1000

_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|2[0-2]\d\d)(?!\d)")
_DOI_IN_TEXT = re.compile(r"10\.\d{4,9}/\S+")
# Searched in upper-cased text: a literal prefix lets the regex engine skip ahead, which an
# IGNORECASE pattern cannot (six times slower on an abstract).
_NCT_IN_TEXT = re.compile(r"NCT\d{8}(?!\d)")
_url_valid = URLValidator(schemes=["http", "https", "ftp"])


def _clean(value: str | None) -> str:
    # str.split() and re's \s agree on what whitespace is (Py_UNICODE_ISSPACE); split is faster.
    return " ".join(value.split()) if value else ""


def _values(value: str | Iterable[str] | None) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        value = (value,)
    # _clean inlined: this runs for every field of every record of a 100,000-record import.
    return [cleaned for item in value if item and (cleaned := " ".join(item.split()))]


@dataclass(frozen=True)
class _Where:
    record: int
    line: int

    def error(self, field: str, message: str) -> ImportFileError:
        return ImportFileError(message, record=self.record, line=self.line or None, field=field)


def _doi(values: list[str], where: _Where) -> str:
    for value in values:
        doi = normalise_doi(value)
        found = _DOI_IN_TEXT.search(doi)
        if found:
            # Exports append punctuation or "[doi]" markers; a DOI never ends with them.
            doi = found.group(0).rstrip(".,;)]")
            if DOI_PATTERN.match(doi) and len(doi) <= 255:
                return doi
    if values:
        raise where.error("doi", f"{values[0][:80]!r} is not a DOI such as 10.3389/fpsyt.2022.915617.")
    return ""


def _pmid(values: list[str], where: _Where) -> str:
    for value in values:
        pmid = value.split()[0].removeprefix("PMID:").strip() if value.split() else ""
        if PMID_PATTERN.match(pmid):
            return pmid
    if values:
        raise where.error("pmid", f"{values[0][:40]!r} is not a PMID (1 to 9 digits).")
    return ""


def _year(values: list[str], where: _Where) -> int | None:
    for value in values:
        found = _YEAR.search(value)
        if found:
            year = int(found.group(1))
            try:
                validate_year(year)
            except ValidationError as error:
                raise where.error("year", error.messages[0]) from None
            return year
    if values:
        raise where.error("year", f"{values[0][:40]!r} holds no publication year.")
    return None


def _text(field: str, values: list[str], where: _Where, joiner: str = " ") -> str:
    text = joiner.join(values)
    limit = MAX_LENGTHS.get(field)
    if limit and len(text) > limit:
        raise where.error(field, f"{len(text)} characters; at most {limit} fit.")
    return text


def _items(field: str, values: list[str], where: _Where) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        if len(value) > MAX_LENGTHS[field]:
            raise where.error(field, f"an entry of {len(value)} characters; at most {MAX_LENGTHS[field]} fit.")
        seen.setdefault(value)
    return tuple(seen)


def _publication_type(values: list[str]) -> str:
    # MEDLINE lists many types; keep the leading ones that fit rather than refuse the record.
    kept: list[str] = []
    for value in dict.fromkeys(values):
        if len("; ".join([*kept, value])) > PUBLICATION_TYPE_MAX:
            break
        kept.append(value)
    return "; ".join(kept)


def _url(values: list[str]) -> str:
    for value in values:
        for token in value.split():
            if len(token) <= URL_MAX and token.lower().startswith(("http://", "https://", "ftp://")):
                try:
                    _url_valid(token)
                except ValidationError:
                    continue
                return token
    return ""


def parsed_record_build(
    *, record: int, line: int, raw_entry: str, title: str | Iterable[str] | None,
    abstract: str | Iterable[str] | None = None, authors: Iterable[str] | None = None,
    year: str | Iterable[str] | None = None, journal: str | Iterable[str] | None = None,
    volume: str | Iterable[str] | None = None, issue: str | Iterable[str] | None = None,
    pages: str | Iterable[str] | None = None, start_page: str | None = None, end_page: str | None = None,
    doi: str | Iterable[str] | None = None, pmid: str | Iterable[str] | None = None,
    nct_sources: Iterable[str] | None = None, keywords: Iterable[str] | None = None,
    language: str | Iterable[str] | None = None, publication_type: str | Iterable[str] | None = None,
    url: str | Iterable[str] | None = None,
) -> ParsedRecord:
    """Check and normalise one record's fields; raise ``ImportFileError`` naming record, line and field.

    Each argument takes the raw value(s) of the field as the parser found them (the first usable
    value wins where the model holds one). Identifiers are normalised (DOI resolver prefixes and
    case, ``PMID:`` prefixes) and must then match the model's patterns: a field that is present
    but unusable refuses the file rather than silently losing the identifier dedup relies on.
    """
    where = _Where(record, line)
    title_text = _text("title", _values(title)[:1], where)
    if not title_text:
        raise where.error("title", "A record needs a title.")
    pages_text = _text("pages", _values(pages)[:1], where)
    if not pages_text and start_page and _clean(start_page):
        pages_text = _clean(start_page) + (f"-{_clean(end_page)}" if end_page and _clean(end_page) else "")
        pages_text = _text("pages", [pages_text], where)
    abstract_text = " ".join(_values(abstract))
    nct = ""
    for source in (*_values(nct_sources), abstract_text):
        found = _NCT_IN_TEXT.search(source.upper())
        if found and NCT_PATTERN.match(found.group(0)):
            nct = found.group(0)
            break
    return ParsedRecord(
        title=title_text,
        abstract=abstract_text,
        authors=_items("authors", _values(authors), where),
        year=_year(_values(year), where),
        journal=_text("journal", _values(journal)[:1], where),
        volume=_text("volume", _values(volume)[:1], where),
        issue=_text("issue", _values(issue)[:1], where),
        pages=pages_text,
        doi=_doi(_values(doi), where),
        pmid=_pmid(_values(pmid), where),
        nct_id=nct,
        keywords=_items("keywords", _values(keywords), where),
        language=_text("language", _values(language)[:1], where),
        publication_type=_publication_type(_values(publication_type)),
        url=_url(_values(url)),
        raw_entry=raw_entry,
        record=record,
        line=line,
    )
