"""Europe PMC through its REST API: ``/search`` with ``format=json``, ``resultType=core`` (abstracts
included), ``pageSize`` up to 1,000 and ``cursorMark`` paging (start at ``*``, follow
``nextCursorMark`` until a page is empty or the mark stops moving). The window is a range on
``FIRST_IDATE``, the date Europe PMC first indexed the record (its "entry date").
Documented at https://europepmc.org/RestfulWebService.
"""
import json

from django.conf import settings

from studies.imports.records import parsed_record_build
from studies.searches.base import CursorPage, Harvest, SearchWindow, harvest_by_cursor
from studies.searches.errors import SearchServiceError
from studies.searches.http import ServiceClient
from studies.searches.ratelimit import RateLimit

SERVICE = "Europe PMC"
PAGE_SIZE = 1000
# Europe PMC publishes no hard limit; this keeps a living review a modest client.
RATE = 10


def client() -> ServiceClient:
    return ServiceClient(service=SERVICE, base_url=settings.EUROPEPMC_URL, rate=RateLimit(key="europepmc", limit=RATE),
                         params={"email": settings.SEARCH_CONTACT_EMAIL})


def _record(index: int, item: dict):
    journal = (item.get("journalInfo") or {})
    authors = [a.get("fullName") or " ".join(filter(None, [a.get("lastName"), a.get("initials")]))
               for a in ((item.get("authorList") or {}).get("author") or [])]
    return parsed_record_build(
        record=index, line=0, raw_entry=json.dumps(item, ensure_ascii=False),
        title=item.get("title"), abstract=item.get("abstractText"),
        authors=[a for a in authors if a] or [a.strip() for a in (item.get("authorString") or "").rstrip(".").split(",")],
        year=item.get("pubYear") or str(journal.get("yearOfPublication") or ""),
        journal=((journal.get("journal") or {}).get("title")) or item.get("bookOrReportDetails", {}).get("publisher"),
        volume=journal.get("volume"), issue=journal.get("issue"), pages=item.get("pageInfo"),
        doi=item.get("doi"), pmid=item.get("pmid"),
        nct_sources=[str(item.get("abstractText") or "")],
        keywords=(item.get("keywordList") or {}).get("keyword"), language=item.get("language"),
        publication_type=(item.get("pubTypeList") or {}).get("pubType"),
        url=[f"https://europepmc.org/article/{item.get('source')}/{item.get('id')}"] if item.get("id") else None,
    )


def harvest(*, query: str, window: SearchWindow, service: ServiceClient | None = None) -> Harvest:
    """Every Europe PMC record ``query`` finds first indexed in ``window``."""
    service = service or client()
    start = window.start.isoformat() if window.start else "1800-01-01"
    term = f"({query}) AND (FIRST_IDATE:[{start} TO {window.end.isoformat()}])"
    return harvest_by_cursor(
        service, service_name=SERVICE, path="search", cursor_param="cursorMark", last_cursor_repeats=True,
        params={"query": term, "format": "json", "resultType": "core", "pageSize": PAGE_SIZE},
        read_page=_page,
        source_record=lambda number, item: (f"{item.get('source')}:{item.get('id')}", _record(number, item)))


def _page(page: dict) -> CursorPage:
    if "resultList" not in page or "hitCount" not in page:
        raise SearchServiceError(f"{SERVICE} answered without results: {json.dumps(page)[:200]}")
    return CursorPage(reported=int(page["hitCount"]), items=page["resultList"].get("result") or [],
                      next_cursor=page.get("nextCursorMark"))
