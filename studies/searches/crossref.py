"""Crossref through ``/works``: ``query`` for the search, the window as
``filter=from-index-date:…,until-index-date:…`` (when Crossref last indexed the work), ``rows`` up to
1,000, deep paging with ``cursor=*`` then ``message.next-cursor`` until a page has no items, and
``mailto`` (the polite pool). Documented at https://api.crossref.org/swagger-ui/index.html and
https://www.crossref.org/documentation/retrieve-metadata/rest-api/.
"""
import json

from django.conf import settings

from studies.imports.records import parsed_record_build
from studies.models.records import ImportFormat
from studies.searches.base import Harvest, HarvestBuilder, SearchWindow
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
    builder = HarvestBuilder(ImportFormat.SEARCH_API)
    cursor, reported, number = "*", None, 0
    while True:
        page = service.get_json("works", {"query": query, "filter": ",".join(dates), "rows": PAGE_SIZE,
                                          "cursor": cursor})
        if page.get("status") != "ok" or not isinstance(page.get("message"), dict):
            words = page.get("message")
            if isinstance(words, list) and words and isinstance(words[0], dict):
                words = words[0].get("message")
            raise SearchServiceError(f"{SERVICE} refused the search: {words or json.dumps(page)[:200]}")
        builder.answer(json.dumps(page, sort_keys=True).encode())
        message = page["message"]
        reported = int(message.get("total-results") or 0) if reported is None else reported
        items = message.get("items") or []
        for work in items:
            number += 1
            builder.add((work.get("DOI") or f"item-{number}").lower(), _record(number, work))
        following = message.get("next-cursor")
        if not items or not following:
            break
        cursor = following
    if len(builder.records) < (reported or 0):
        raise SearchServiceError(f"{SERVICE} announced {reported} works but its pages held {len(builder.records)}.")
    return builder.build(reported=reported or 0, requests=service.requests_made)
