"""Crossref through ``/works``: ``query`` for the search, the window as
``filter=from-index-date:…,until-index-date:…`` (when Crossref last indexed the work), ``rows`` up to
1,000, deep paging with ``cursor=*`` then ``message.next-cursor`` until a page has no items, and
``mailto`` (the polite pool). Documented at https://api.crossref.org/swagger-ui/index.html and
https://www.crossref.org/documentation/retrieve-metadata/rest-api/.
"""
import json

from django.conf import settings

from studies.imports.records import parsed_record_build
from studies.searches.base import CursorPage, Harvest, SearchWindow, harvest_by_cursor
from studies.searches.errors import SearchServiceError
from studies.searches.http import ServiceClient
from studies.searches.ratelimit import RateLimit

SERVICE = "Crossref"
PAGE_SIZE = 1000
RATE = 5  # below the polite pool's limit, whatever Crossref sets it to on the day


def client() -> ServiceClient:
    return ServiceClient(service=SERVICE, base_url=settings.CROSSREF_URL, rate=RateLimit(key="crossref", limit=RATE),
                         params={"mailto": settings.SEARCH_CONTACT_EMAIL})


def _year(work: dict) -> str:
    for key in ("published", "published-print", "published-online", "issued", "created"):
        parts = (work.get(key) or {}).get("date-parts") or []
        if parts and parts[0] and parts[0][0]:
            return str(parts[0][0])
    return ""


def _record(number: int, work: dict):
    authors = [", ".join(filter(None, [a.get("family"), a.get("given")])) or a.get("name") or ""
               for a in work.get("author") or []]
    return parsed_record_build(
        record=number, line=0, raw_entry=json.dumps(work, ensure_ascii=False),
        title=work.get("title"), title_alternatives=(("subtitle", work.get("subtitle")),),
        abstract=work.get("abstract"), authors=authors, year=_year(work),
        journal=work.get("container-title"), volume=work.get("volume"), issue=work.get("issue"),
        pages=work.get("page"), doi=work.get("DOI"), language=work.get("language"),
        publication_type=work.get("type"), url=work.get("URL"), keywords=work.get("subject"),
    )


def harvest(*, query: str, window: SearchWindow, service: ServiceClient | None = None) -> Harvest:
    """Every Crossref work ``query`` finds indexed in ``window``."""
    service = service or client()
    dates = [f"until-index-date:{window.end.isoformat()}"]
    if window.start:
        dates.insert(0, f"from-index-date:{window.start.isoformat()}")
    return harvest_by_cursor(
        service, service_name=SERVICE, path="works", cursor_param="cursor", noun="works",
        params={"query": query, "filter": ",".join(dates), "rows": PAGE_SIZE},
        read_page=_page, source_record=lambda number, work: ((work.get("DOI") or f"item-{number}").lower(),
                                                             _record(number, work)))


def _page(page: dict) -> CursorPage:
    if page.get("status") != "ok" or not isinstance(page.get("message"), dict):
        words = page.get("message")
        if isinstance(words, list) and words and isinstance(words[0], dict):
            words = words[0].get("message")
        raise SearchServiceError(f"{SERVICE} refused the search: {words or json.dumps(page)[:200]}")
    message = page["message"]
    return CursorPage(reported=int(message.get("total-results") or 0), items=message.get("items") or [],
                      next_cursor=message.get("next-cursor"))
