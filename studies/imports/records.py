"""Parsed records: what every parser produces, already checked against the rules of ``Record``."""
from collections.abc import Iterable
from dataclasses import dataclass
import re

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from studies.imports.errors import ImportFileError, RecordWarning
from studies.models.validators import (
    DOI_PATTERN, NCT_PATTERN, PMID_PATTERN, YEAR_MIN, normalise_doi, validate_year, year_max,
)


@dataclass(slots=True)
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
    # Quirks found in this record; it is imported all the same (studies.imports.errors.RecordWarning).
    warnings: tuple[RecordWarning, ...] = ()


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


def _squash(value: str) -> str:
    """Whitespace runs to one space, ends trimmed (what ``" ".join(value.split())`` gives).

    Every character ``split`` takes for whitespace, but the space itself, is non-printable, so a
    printable value without double spaces only needs trimming: a check that is several times cheaper
    than splitting a 1,000-word abstract into words and joining them again.
    """
    if value.isprintable() and "  " not in value:
        return value.strip()
    return " ".join(value.split())


def _clean(value: str | None) -> str:
    return _squash(value) if value else ""


def _values(value: str | Iterable[str] | None) -> list[str]:
    """Every non-blank value, whitespace collapsed."""
    if not value:
        return []
    if isinstance(value, str):
        return [cleaned] if (cleaned := _squash(value)) else []
    return [cleaned for item in value if item and (cleaned := _squash(item))]


def _first(value: str | Iterable[str] | None) -> str:
    """The first non-blank value, whitespace collapsed (a field the model holds once)."""
    if not value:
        return ""
    if isinstance(value, str):
        return _squash(value)
    for item in value:
        if item:
            cleaned = _squash(item)
            if cleaned:
                return cleaned
    return ""


class _FieldError(Exception):
    """A field's value is unusable; ``parsed_record_build`` adds the record and line."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _doi(values: list[str]) -> str:
    for value in values:
        doi = normalise_doi(value)
        found = _DOI_IN_TEXT.search(doi)
        if found:
            # Exports append punctuation or "[doi]" markers; a DOI never ends with them.
            doi = found.group(0).rstrip(".,;)]")
            if DOI_PATTERN.match(doi) and len(doi) <= 255:
                return doi
    if values:
        raise _FieldError("doi", f"{values[0][:80]!r} is not a DOI such as 10.3389/fpsyt.2022.915617.")
    return ""


def _pmid(values: list[str]) -> str:
    for value in values:
        words = value.split()
        pmid = words[0].removeprefix("PMID:").strip() if words else ""
        if PMID_PATTERN.match(pmid):
            return pmid
    if values:
        raise _FieldError("pmid", f"{values[0][:40]!r} is not a PMID (1 to 9 digits).")
    return ""


def _year(values: str | Iterable[str]) -> int | None:
    if isinstance(values, str):
        values = (values,)
    for value in values:
        found = _YEAR.search(value)
        if found:
            year = int(found.group(1))
            if not YEAR_MIN <= year <= year_max():
                try:
                    validate_year(year)
                except ValidationError as error:
                    raise _FieldError("year", error.messages[0]) from None
            return year
    given = _values(values)
    if given:
        raise _FieldError("year", f"{given[0][:40]!r} holds no publication year.")
    return None


def _single(field: str, value: str | Iterable[str] | None) -> str:
    text = _first(value)
    limit = MAX_LENGTHS.get(field)
    if limit and len(text) > limit:
        raise _FieldError(field, f"{len(text)} characters; at most {limit} fit.")
    return text


def _items(field: str, value: Iterable[str] | None) -> tuple[str, ...]:
    values = _values(value)
    limit = MAX_LENGTHS[field]
    for item in values:
        if len(item) > limit:
            raise _FieldError(field, f"an entry of {len(item)} characters; at most {limit} fit.")
    return tuple(dict.fromkeys(values))


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


def _nct(sources: Iterable[str] | None, abstract: str) -> str:
    for source in (*(sources or ()), abstract):
        if source:
            found = _NCT_IN_TEXT.search(source.upper())
            if found and NCT_PATTERN.match(found.group(0)):
                return found.group(0)
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
    try:
        title_text = _single("title", title)
        if not title_text:
            raise _FieldError("title", "A record needs a title.")
        pages_text = _single("pages", pages)
        if not pages_text and start_page and (first_page := _clean(start_page)):
            last_page = _clean(end_page)
            pages_text = _single("pages", f"{first_page}-{last_page}" if last_page else first_page)
        abstract_text = " ".join(_values(abstract))
        return ParsedRecord(
            title=title_text,
            abstract=abstract_text,
            authors=_items("authors", authors) if authors else (),
            year=_year(year) if year else None,
            journal=_single("journal", journal),
            volume=_single("volume", volume),
            issue=_single("issue", issue),
            pages=pages_text,
            doi=_doi(_values(doi)) if doi else "",
            pmid=_pmid(_values(pmid)) if pmid else "",
            nct_id=_nct(_values(nct_sources) if nct_sources else (), abstract_text),
            keywords=_items("keywords", keywords) if keywords else (),
            language=_single("language", language),
            publication_type=_publication_type(_values(publication_type)) if publication_type else "",
            url=_url(_values(url)) if url else "",
            raw_entry=raw_entry,
            record=record,
            line=line,
        )
    except _FieldError as error:
        raise ImportFileError(error.message, record=record, line=line or None, field=error.field) from None
