"""OpenAlex through ``/works``: ``search`` for the query, the window as
``filter=from_created_date:…,to_created_date:…`` (when OpenAlex added the work), ``per-page`` up to 200,
cursor paging (``cursor=*``, then ``meta.next_cursor`` until it is null) and ``mailto`` (the polite
pool). Documented at https://docs.openalex.org/how-to-use-the-api/get-lists-of-entities.
Abstracts come as an inverted index (word → positions), which is turned back into text.
"""
import json

from django.conf import settings

from studies.imports.records import parsed_record_build
from studies.searches.base import CursorPage, Harvest, SearchWindow, harvest_by_cursor
from studies.searches.errors import SearchServiceError
from studies.searches.http import ServiceClient
from studies.searches.ratelimit import RateLimit

SERVICE = "OpenAlex"
PAGE_SIZE = 200
RATE = 10  # OpenAlex's documented maximum per second


def client() -> ServiceClient:
    return ServiceClient(service=SERVICE, base_url=settings.OPENALEX_URL, rate=RateLimit(key="openalex", limit=RATE),
                         params={"mailto": settings.SEARCH_CONTACT_EMAIL})


def abstract_from_inverted_index(index: dict[str, list[int]] | None) -> str:
    """The abstract's text from OpenAlex's ``abstract_inverted_index`` (each word at its positions)."""
    if not index:
        return ""
    placed = sorted((position, word) for word, positions in index.items() for position in positions)
    return " ".join(word for _, word in placed)


def _record(number: int, work: dict):
    biblio = work.get("biblio") or {}
    source = ((work.get("primary_location") or {}).get("source") or {})
    ids = work.get("ids") or {}
    pmid = (ids.get("pmid") or "").rstrip("/").rsplit("/", 1)[-1]
    return parsed_record_build(
        record=number, line=0, raw_entry=json.dumps(work, ensure_ascii=False),
        title=work.get("title") or work.get("display_name"),
        abstract=abstract_from_inverted_index(work.get("abstract_inverted_index")),
        authors=[(a.get("author") or {}).get("display_name") or "" for a in work.get("authorships") or []],
        year=str(work.get("publication_year") or ""), journal=source.get("display_name"),
        volume=biblio.get("volume"), issue=biblio.get("issue"),
        start_page=biblio.get("first_page"), end_page=biblio.get("last_page"),
        doi=work.get("doi"), pmid=pmid or None, language=work.get("language"),
        publication_type=work.get("type"), url=work.get("id"),
        keywords=[k.get("display_name") or "" for k in work.get("keywords") or [] if isinstance(k, dict)],
    )


def harvest(*, query: str, window: SearchWindow, service: ServiceClient | None = None) -> Harvest:
    """Every OpenAlex work ``query`` finds that OpenAlex created in ``window``."""
    service = service or client()
    dates = [f"to_created_date:{window.end.isoformat()}"]
    if window.start:
        dates.insert(0, f"from_created_date:{window.start.isoformat()}")
    return harvest_by_cursor(
        service, service_name=SERVICE, path="works", cursor_param="cursor", noun="works",
        params={"search": query, "filter": ",".join(dates), "per-page": PAGE_SIZE},
        read_page=_page, source_record=lambda number, work: (str(work.get("id")), _record(number, work)))


def _page(page: dict) -> CursorPage:
    meta, results = page.get("meta"), page.get("results")
    if not isinstance(meta, dict) or not isinstance(results, list):
        raise SearchServiceError(f"{SERVICE} answered without results: {json.dumps(page)[:200]}")
    return CursorPage(reported=int(meta.get("count") or 0), items=results, next_cursor=meta.get("next_cursor"))
