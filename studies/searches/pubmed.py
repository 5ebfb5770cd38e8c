"""PubMed through NCBI's E-utilities: esearch on the history server, then efetch as XML, in batches.

Documented at https://www.ncbi.nlm.nih.gov/books/NBK25499/: ``esearch.fcgi`` with ``term``,
``datetype=edat`` (the Entrez date: when the record entered PubMed, so records published long ago but
added lately are found), ``mindate``/``maxdate`` (YYYY/MM/DD), ``usehistory=y``; then ``efetch.fcgi``
with ``query_key``, ``WebEnv``, ``retstart``, ``retmax``, ``retmode=xml``. Every request carries
``tool`` and ``email``, and ``api_key`` when ``NCBI_API_KEY`` is set: without a key NCBI allows 3
requests a second, with one 10 (shared by every worker through Redis).
"""
import hashlib

from django.conf import settings

from studies.imports import ImportFileError
from studies.imports.pubmed_xml import pubmed_xml_parse
from studies.models.records import ImportFormat
from studies.searches.base import Harvest, HarvestBuilder, SearchWindow
from studies.searches.errors import SearchServiceError
from studies.searches.http import ServiceClient, looks_like_html, service_words
from studies.searches.ratelimit import RateLimit

SERVICE = "PubMed"
# Records per efetch request (NCBI allows up to 10,000; smaller batches keep each answer modest).
FETCH_BATCH = 500
EARLIEST = "1800/01/01"


def client() -> ServiceClient:
    api_key = settings.NCBI_API_KEY
    params = {"tool": settings.SEARCH_TOOL_NAME, "email": settings.SEARCH_CONTACT_EMAIL}
    if api_key:
        params["api_key"] = api_key
    # NCBI counts per API key, or per address without one: the limiter's key says which.
    who = hashlib.sha256(api_key.encode()).hexdigest()[:16] if api_key else "no-key"
    rate = RateLimit(key=f"pubmed:{who}", limit=10 if api_key else 3)
    return ServiceClient(service=SERVICE, base_url=settings.PUBMED_EUTILS_URL, rate=rate, params=params)


def _date(day) -> str:
    return day.strftime("%Y/%m/%d")


def harvest(*, query: str, window: SearchWindow, service: ServiceClient | None = None) -> Harvest:
    """Every PubMed record ``query`` finds with an Entrez date in ``window``."""
    service = service or client()
    found = service.get_json("esearch.fcgi", {
        "db": "pubmed", "term": query, "usehistory": "y", "retmax": 0, "retmode": "json", "datetype": "edat",
        "mindate": _date(window.start) if window.start else EARLIEST, "maxdate": _date(window.end)})
    result = found.get("esearchresult")
    if not isinstance(result, dict):
        raise SearchServiceError(f"{SERVICE}'s esearch answer has no result: {service_words(str(found))}")
    if result.get("ERROR") or found.get("error"):
        raise SearchServiceError(f"{SERVICE} refused the search: {result.get('ERROR') or found.get('error')}")
    try:
        count = int(result["count"])
    except (KeyError, TypeError, ValueError):
        raise SearchServiceError(f"{SERVICE}'s esearch answer has no count: {str(result)[:200]}") from None
    builder = HarvestBuilder(ImportFormat.PUBMED_XML)
    if count:
        web_env, query_key = result.get("webenv"), result.get("querykey")
        if not web_env or not query_key:
            raise SearchServiceError(f"{SERVICE} did not keep the search on its history server (no WebEnv).")
        for start in range(0, count, FETCH_BATCH):
            expected = min(FETCH_BATCH, count - start)
            response = service.get("efetch.fcgi", {"db": "pubmed", "query_key": query_key, "WebEnv": web_env,
                                                   "retstart": start, "retmax": FETCH_BATCH, "retmode": "xml"})
            if looks_like_html(response):
                raise SearchServiceError(f"{SERVICE} sent an HTML page instead of XML (records {start + 1}–"
                                         f"{start + expected}): {service_words(response.text)}")
            builder.answer(response.content)
            try:
                records = pubmed_xml_parse(response.content.decode("utf-8"))
            except (ImportFileError, UnicodeDecodeError) as error:
                raise SearchServiceError(f"{SERVICE}'s records {start + 1}–{start + expected} could not be read: "
                                         f"{error}; it began: {response.text[:120]!r}") from None
            if len(records) < expected:
                raise SearchServiceError(f"{SERVICE} sent {len(records)} of the records {start + 1}–"
                                         f"{start + expected} of {count}: the answer was cut short.")
            for record in records:
                builder.add(record.pmid or f"record-{start}-{record.record}", record)
    return builder.build(reported=count, requests=service.requests_made)
