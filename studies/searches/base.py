"""What every connector takes and gives, and the choice of connector by database."""
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
import hashlib

from studies.imports import ParsedRecord
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
