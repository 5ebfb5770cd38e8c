"""What every connector takes and gives, and the choice of connector by database."""
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
import hashlib
import json

from studies.imports import ParsedRecord
from studies.models.records import ImportFormat
from studies.models.searches import SearchDatabase
from studies.searches.errors import SearchServiceError


@dataclass(frozen=True)
class SearchWindow:
    """The dates searched, both included (``start`` None: from the beginning of the database)."""

    start: date | None
    end: date


@dataclass(frozen=True)
class Harvest:
    """Everything a service returned for one query and window, read and checked, nothing written.

    ``ids`` are the service's own ids of ``records`` (same order): PMID, Europe PMC ``SRC:ID``, NCT
    id, OpenAlex work id, DOI. ``reported`` is the count the service announced.
    """

    records: tuple[ParsedRecord, ...]
    ids: tuple[str, ...]
    reported: int
    file_format: str
    requests: int
    sha256: str


class HarvestBuilder:
    """Collects a harvest page by page: the raw answers (hashed, to name the batch) and each record
    once, by its service id (a record that moves between pages while paging is not taken twice)."""

    def __init__(self, file_format: str) -> None:
        self.file_format = file_format
        self._digest = hashlib.sha256()
        self._seen: set[str] = set()
        self.records: list[ParsedRecord] = []
        self.ids: list[str] = []

    def answer(self, content: bytes) -> None:
        self._digest.update(content)

    def add(self, source_id: str, record: ParsedRecord) -> None:
        if source_id in self._seen:
            return
        self._seen.add(source_id)
        self.ids.append(source_id)
        self.records.append(record)

    def build(self, *, reported: int, requests: int) -> Harvest:
        return Harvest(records=tuple(self.records), ids=tuple(self.ids), reported=reported,
                       file_format=self.file_format, requests=requests, sha256=self._digest.hexdigest())


# Pages in a row that bring no new record before a cursor-paged harvest gives up (a record may move
# between pages while paging, so one such page is not yet a loop).
STALLED_PAGES_LIMIT = 3


@dataclass(frozen=True)
class CursorPage:
    """One page of a cursor-paged answer, as a connector reads it: the count the service announced,
    the page's items and the cursor of the next page (None or empty: none)."""

    reported: int
    items: Sequence[dict]
    next_cursor: str | None


def harvest_by_cursor(service, *, service_name: str, path: str, params: dict, cursor_param: str,
                      read_page: Callable[[dict], CursorPage],
                      source_record: Callable[[int, dict], tuple[str, ParsedRecord]],
                      noun: str = "records", last_cursor_repeats: bool = False) -> Harvest:
    """Every page of a cursor-paged search (Crossref, OpenAlex, Europe PMC: ``*`` first, then the
    cursor each page gives), read by ``read_page`` (which raises ``SearchServiceError`` for a page
    that is not one) and each item turned into ``(service id, record)`` by ``source_record`` with its
    number in the harvest. Paging ends at an empty page or a page with no next cursor, and with
    ``last_cursor_repeats`` (Solr's cursorMark: Europe PMC) at the page that gives back the cursor it
    was asked with; not otherwise, as a scroll-style cursor (Crossref's) may stay the same from page
    to page. A harvest with fewer
    records than the first page announced is refused: the batch would silently miss some."""
    builder = HarvestBuilder(ImportFormat.SEARCH_API)
    cursor, reported, number, stalled = "*", None, 0, 0
    while True:
        answer = service.get_json(path, {**params, cursor_param: cursor})
        page = read_page(answer)
        builder.answer(json.dumps(answer, sort_keys=True).encode())
        reported = page.reported if reported is None else reported
        held = len(builder.records)
        for item in page.items:
            number += 1
            builder.add(*source_record(number, item))
        if not page.items or not page.next_cursor or (last_cursor_repeats and page.next_cursor == cursor):
            break
        # A cursor that keeps giving pages of records already taken would page for ever.
        stalled = stalled + 1 if len(builder.records) == held else 0
        if stalled == STALLED_PAGES_LIMIT:
            raise SearchServiceError(f"{service_name} gave {STALLED_PAGES_LIMIT} pages in a row with no record not "
                                     f"already taken (cursor {str(page.next_cursor)[:40]!r}); the run stops here.")
        cursor = page.next_cursor
    if len(builder.records) < reported:
        raise SearchServiceError(f"{service_name} announced {reported} {noun} but its pages held "
                                 f"{len(builder.records)}.")
    return builder.build(reported=reported, requests=service.requests_made)


def _connectors() -> dict[str, Callable[..., Harvest]]:
    from studies.searches import clinicaltrials, crossref, europepmc, openalex, pubmed

    return {SearchDatabase.PUBMED: pubmed.harvest, SearchDatabase.EUROPEPMC: europepmc.harvest,
            SearchDatabase.CLINICALTRIALS: clinicaltrials.harvest, SearchDatabase.OPENALEX: openalex.harvest,
            SearchDatabase.CROSSREF: crossref.harvest}


def harvest(*, database: str, query: str, window: SearchWindow) -> Harvest:
    """Ask ``database`` for every record ``query`` finds in ``window``. Raises ``SearchServiceError``."""
    connector = _connectors().get(database)
    if connector is None:
        raise SearchServiceError(f"No connector for the database {database!r}.")
    return connector(query=query, window=window)
