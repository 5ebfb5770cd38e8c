"""Parsed records: what every parser produces, already fitted to the rules of ``Record``.

A value that breaks a rule never refuses the file (DESIGN.md, "Intake"): bibliographic text is kept
whole, and an identifier or a year that does not have its standard's shape is left out of its field
with a ``RecordWarning``; the value itself stays in the record's ``raw_entry``, which keeps every line
of the entry as the export had it, so nothing the database sent is lost and nothing unusable is
matched on.
"""
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
import html
import re
from urllib.parse import unquote

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from studies.imports.errors import RecordWarning, WarningKind
from studies.models.validators import DOI_PATTERN, PMID_PATTERN, YEAR_MIN, normalise_doi, year_max


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


# The model's own cap on a DOI (an index entry); longer values are not DOIs in practice.
DOI_MAX = 255

_YEAR = re.compile(r"(?<!\d)(\d{4})(?:\d{4})?(?!\d)")  # 2019, 2019/08/01, 20190801
_DOI_IN_TEXT = re.compile(r"10\.\d{4,9}/\S+")
# Searched in upper-cased text: a literal prefix lets the regex engine skip ahead, which an
# IGNORECASE pattern cannot (six times slower on an abstract).
_NCT_IN_TEXT = re.compile(r"NCT\d{8}(?!\d)")
_url_valid = URLValidator(schemes=["http", "https", "ftp"])
# Markup some databases leave in titles and abstracts (Lens: JATS ``<jats:p>``; Crossref, Web of
# Science: ``<i>``, ``<sub>``). A tag starts with a letter right after ``<`` (or ``</``), so "p < 0.05"
# and "p<0.05" are not tags, and its attributes have values, so Web of Science's character names
# ("PM2<middle dot>5") are not tags either; the one of those that is common is read as its character.
_TAG = re.compile(r"</?([A-Za-z][\w.-]*:)?([A-Za-z][\w.-]*)(?:\s+[^<>=]+=[^<>]*)?\s*/?>")
_CHARACTER_NAMES = {"<middle dot>": "\u00b7"}
# Headings too: Europe PMC's abstracts label their sections with <h4> ("<h4>Objective</h4>Test...").
_BLOCK_TAGS = frozenset({"p", "br", "div", "sec", "title", "li", "list-item", "abstract", "section",
                         "h1", "h2", "h3", "h4", "h5", "h6"})
_ENTITY = re.compile(r"&(?:#\d+|#x[\da-f]+|[a-z]+\d*);", re.IGNORECASE)


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


def _stripped(value: Iterable[str] | None) -> list[str]:
    """``_values`` of values whose whitespace is known to be single spaces (``parsed_record_build``'s
    ``spaced``): only their ends need trimming, which spares a ``_squash`` call per value."""
    return [stripped for item in value if (stripped := item.strip())] if value else []


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


def _tag_replace(match: re.Match) -> str:
    return " " if match.group(2).lower() in _BLOCK_TAGS else ""


def text_from_markup(text: str) -> str:
    """Text without HTML/JATS tags and entities (checked first: most values have neither)."""
    if "<" in text:
        for name, character in _CHARACTER_NAMES.items():
            text = text.replace(name, character)
        text = _TAG.sub(_tag_replace, text)
    if "&" in text and _ENTITY.search(text):
        text = html.unescape(text)
    return text


class _Notes:
    """The warnings of one record as it is built (a list only once there is one)."""

    __slots__ = ("found", "line", "record")

    def __init__(self, record: int, line: int) -> None:
        self.record, self.line, self.found = record, line, None

    def add(self, kind: str, field: str | None, message: str, line: int | None = None) -> None:
        if self.found is None:
            self.found = []
        self.found.append(RecordWarning(kind, message, self.record, line or self.line or None, field))


def _shown(value: str, limit: int = 80) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")


def doi_normalise(value: str) -> str:
    """The DOI in a value as exports write it, or "" when there is none.

    Exports give DOIs as resolver URLs (``https://doi.org/…``, ``http://dx.doi.org/…``), with a
    ``doi:`` label, percent-encoded (``10.1371%2Fjournal.pone.0129675``), followed by ``[doi]`` or
    by punctuation, or inside a longer text. DOIs are compared in lower case (DOI Handbook 2.4).
    """
    if "%" in value:
        value = unquote(value)
    # Any other resolver or label before the DOI is passed over by the search.
    found = _DOI_IN_TEXT.search(normalise_doi(value))
    if found is None:
        return ""
    doi = found.group(0).removesuffix("[doi]").rstrip(".,;:'\"")
    # A closing bracket ends the DOI only when the DOI did not open it: 10.1016/0000-0000(93)90001-X).
    while doi and doi[-1] in ")]>" and doi.count(doi[-1]) > doi.count({")": "(", "]": "[", ">": "<"}[doi[-1]]):
        doi = doi[:-1].rstrip(".,;:")
    return doi if DOI_PATTERN.match(doi) and len(doi) <= DOI_MAX else ""


def _doi(values: list[str], notes: _Notes) -> str:
    for value in values:
        doi = doi_normalise(value)
        if doi:
            return doi
    if values:
        notes.add(WarningKind.DOI_NOT_A_DOI, "doi", f"{_shown(values[0])} is not a DOI such as "
                  "10.3389/fpsyt.2022.915617; the record is kept without a DOI.")
    return ""


def _pmid(values: list[str], notes: _Notes) -> str:
    for value in values:
        words = value.replace("PMID:", " ").replace("PMID", " ").split()
        pmid = words[0].removesuffix("[pmid]") if words else ""
        if PMID_PATTERN.match(pmid):
            return pmid
    if values:
        notes.add(WarningKind.PMID_INVALID, "pmid",
                  f"{_shown(values[0], 40)} is not a PMID (1 to 9 digits); the record is kept without one.")
    return ""


def _year(values: str | Iterable[str], notes: _Notes) -> int | None:
    top = year_max()
    # "PY  - 2019", most records: no regex.
    if (isinstance(values, list) and values and len(first := values[0]) == 4 and first.isdigit()
            and YEAR_MIN <= (year := int(first)) <= top):
        return year
    given = _values(values)
    out_of_range = None
    for value in given:
        for found in _YEAR.finditer(value):
            year = int(found.group(1))
            if YEAR_MIN <= year <= top:
                return year
            out_of_range = out_of_range or year
    if out_of_range is not None:
        notes.add(WarningKind.YEAR_OUT_OF_RANGE, "year", f"{out_of_range} is not between {YEAR_MIN} and {top}; "
                  "the record is kept without a year.")
    elif given:
        notes.add(WarningKind.YEAR_UNREADABLE, "year",
                  f"{_shown(given[0], 40)} holds no publication year; the record is kept without one.")
    return None


def _url(values: list[str], notes: _Notes) -> str:
    refused = ""
    for value in values:
        for token in value.split():
            if token.lower().startswith(("http://", "https://", "ftp://")):
                try:
                    _url_valid(token)
                except ValidationError:
                    refused = refused or token
                    continue
                return token
    if refused:
        notes.add(WarningKind.URL_INVALID, "url", f"{_shown(refused)} is not a valid link; "
                  "the record is kept without one.")
    return ""


def _nct(sources: Iterable[str] | None, abstract: str) -> str:
    for source in (*(sources or ()), abstract):
        if source:
            found = _NCT_IN_TEXT.search(source.upper())
            if found:
                return found.group(0)
    return ""


def _title(title: str | Iterable[str] | None, alternatives: Sequence[tuple[str, str | Iterable[str] | None]],
           notes: _Notes) -> str:
    text = _first(title)
    if text:
        return text
    for name, value in alternatives:
        text = _first(value)
        if text:
            notes.add(WarningKind.TITLE_FROM_OTHER_FIELD, "title",
                      f"No title; the {name} was taken as the title: check it when screening.")
            return text
    notes.add(WarningKind.TITLE_MISSING, "title", "The record has no title; it is kept for screening "
              "by its other fields.")
    return ""


def parsed_record_build(
    *, record: int, line: int, raw_entry: str, title: str | Iterable[str] | None,
    title_alternatives: Sequence[tuple[str, str | Iterable[str] | None]] = (),
    abstract: str | Iterable[str] | None = None, authors: Iterable[str] | None = None,
    year: str | Iterable[str] | None = None, journal: str | Iterable[str] | None = None,
    volume: str | Iterable[str] | None = None, issue: str | Iterable[str] | None = None,
    pages: str | Iterable[str] | None = None, start_page: str | None = None, end_page: str | None = None,
    doi: str | Iterable[str] | None = None, pmid: str | Iterable[str] | None = None,
    nct_id: str | Iterable[str] | None = None, nct_sources: Iterable[str] | None = None,
    keywords: Iterable[str] | None = None,
    language: str | Iterable[str] | None = None, publication_type: str | Iterable[str] | None = None,
    url: str | Iterable[str] | None = None, warnings: Iterable[RecordWarning] = (), spaced: bool = False,
) -> ParsedRecord:
    """Normalise one record's fields; a value its field cannot take is left out with a warning.

    Each argument takes the raw value(s) of the field as the parser found them (the first usable
    value wins where the model holds one). ``title_alternatives`` are ``(what the field is, values)``
    tried in order when there is no title. Identifiers are normalised (DOI resolver prefixes, percent
    encoding and case, ``PMID:`` prefixes) and must then match their standard's pattern; ``nct_id`` is
    a field meant to hold an NCT number (a warning when it does not), ``nct_sources`` texts that may
    mention one. ``warnings`` are the parser's own about this record (stray lines and the like).
    ``spaced`` is the parser's word that every value is a list whose only whitespace is single spaces
    (RIS entries mostly are): values are then trimmed rather than squashed, the same result for less.
    """
    values = _stripped if spaced else _values
    notes = _Notes(record, line)
    for warning in warnings:
        notes.add(warning.kind, warning.field, warning.message, warning.line)
    title_text = _title(title, title_alternatives, notes)
    if "<" in title_text or "&" in title_text:
        title_text = _squash(text_from_markup(title_text))
    pages_text = _first(pages)
    if not pages_text and start_page and (first_page := _clean(start_page)):
        last_page = _clean(end_page)
        pages_text = f"{first_page}-{last_page}" if last_page else first_page
    abstract_text = " ".join(values(abstract))
    if "<" in abstract_text or "&" in abstract_text:
        abstract_text = _squash(text_from_markup(abstract_text))
    nct_text = ""
    if nct_id:
        given = _values(nct_id)
        nct_text = _nct(given, "")
        if given and not nct_text:
            notes.add(WarningKind.NCT_INVALID, "nct_id", f"{_shown(given[0], 40)} is not an NCT number "
                      "(NCT followed by 8 digits); the record is kept without one.")
    return ParsedRecord(
        title=title_text,
        abstract=abstract_text,
        authors=tuple(dict.fromkeys(values(authors))) if authors else (),
        year=_year(year, notes) if year else None,
        journal=_first(journal),
        volume=_first(volume),
        issue=_first(issue),
        pages=pages_text,
        doi=_doi(values(doi), notes) if doi else "",
        pmid=_pmid(values(pmid), notes) if pmid else "",
        nct_id=nct_text or _nct(values(nct_sources) if nct_sources else (), abstract_text),
        keywords=tuple(dict.fromkeys(values(keywords))) if keywords else (),
        language=_first(language),
        publication_type="; ".join(dict.fromkeys(values(publication_type))) if publication_type else "",
        url=_url(values(url), notes) if url else "",
        raw_entry=raw_entry,
        record=record,
        line=line,
        warnings=tuple(notes.found) if notes.found else (),
    )
