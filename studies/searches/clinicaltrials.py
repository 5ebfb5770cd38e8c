"""ClinicalTrials.gov through API v2: ``/studies`` with ``query.term``, the window as
``filter.advanced=AREA[LastUpdatePostDate]RANGE[start,end]`` (a registration updated with results
comes back: the team sees it again as news), ``pageSize`` up to 1,000, ``countTotal=true`` and
``pageToken`` paging (follow ``nextPageToken`` until there is none).
Documented at https://clinicaltrials.gov/data-api/api.

Each registration becomes a record with its NCT id; the importer's deduplication then pairs it with
publications that carry the same NCT id (queued as "perhaps different reports of one study").
"""
import json

from django.conf import settings

from studies.imports.records import parsed_record_build
from studies.models.records import ImportFormat
from studies.searches.base import Harvest, HarvestBuilder, SearchWindow
from studies.searches.errors import SearchServiceError
from studies.searches.http import ServiceClient
from studies.searches.ratelimit import RateLimit

SERVICE = "ClinicalTrials.gov"
PAGE_SIZE = 1000
# ClinicalTrials.gov asks for about 50 requests a minute from one client.
RATE, PER_SECONDS = 50, 60.0


def client() -> ServiceClient:
    return ServiceClient(service=SERVICE, base_url=settings.CTGOV_URL,
                         rate=RateLimit(key="ctgov", limit=RATE, seconds=PER_SECONDS))


def _record(index: int, study: dict):
    protocol = study.get("protocolSection") or {}
    ident = protocol.get("identificationModule") or {}
    status = protocol.get("statusModule") or {}
    description = protocol.get("descriptionModule") or {}
    conditions = protocol.get("conditionsModule") or {}
    sponsor = ((protocol.get("sponsorCollaboratorsModule") or {}).get("leadSponsor") or {}).get("name")
    officials = [o.get("name") for o in ((protocol.get("contactsLocationsModule") or {}).get("overallOfficials") or [])]
    nct = ident.get("nctId")
    first_posted = (status.get("studyFirstPostDateStruct") or {}).get("date") or (
        status.get("startDateStruct") or {}).get("date")
    design = protocol.get("designModule") or {}
    return parsed_record_build(
        record=index, line=0, raw_entry=json.dumps(study, ensure_ascii=False),
        title=ident.get("officialTitle") or ident.get("briefTitle"),
        title_alternatives=(("brief title", ident.get("briefTitle")),),
        abstract=description.get("briefSummary"),
        authors=[name for name in officials if name] or ([sponsor] if sponsor else []),
        year=first_posted, journal="ClinicalTrials.gov", nct_id=nct,
        keywords=[*(conditions.get("conditions") or []), *(conditions.get("keywords") or [])],
        publication_type=["Trial registration", design.get("studyType") or ""],
        url=[f"https://clinicaltrials.gov/study/{nct}"] if nct else None,
    )


def harvest(*, query: str, window: SearchWindow, service: ServiceClient | None = None) -> Harvest:
    """Every registration ``query`` finds whose last update was posted in ``window``."""
    service = service or client()
    start = window.start.isoformat() if window.start else "MIN"
    params = {"query.term": query, "filter.advanced": f"AREA[LastUpdatePostDate]RANGE[{start},{window.end.isoformat()}]",
              "pageSize": PAGE_SIZE, "countTotal": "true", "format": "json"}
    builder = HarvestBuilder(ImportFormat.SEARCH_API)
    token, reported, index = None, None, 0
    while True:
        page = service.get_json("studies", {**params, **({"pageToken": token} if token else {})})
        if "studies" not in page:
            raise SearchServiceError(f"{SERVICE} answered without studies: {json.dumps(page)[:200]}")
        builder.answer(json.dumps(page, sort_keys=True).encode())
        if reported is None:
            reported = int(page.get("totalCount", 0))
        for study in page["studies"]:
            index += 1
            record = _record(index, study)
            builder.add(record.nct_id or f"study-{index}", record)
        token = page.get("nextPageToken")
        if not token or not page["studies"]:
            break
    if len(builder.records) < (reported or 0):
        raise SearchServiceError(f"{SERVICE} announced {reported} studies but its pages held {len(builder.records)}.")
    return builder.build(reported=reported or 0, requests=service.requests_made)
