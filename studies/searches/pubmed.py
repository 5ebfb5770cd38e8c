"""PubMed through NCBI's E-utilities: esearch on the history server, then efetch as XML, in batches.

Documented at https://www.ncbi.nlm.nih.gov/books/NBK25499/: ``esearch.fcgi`` with ``term``,
``datetype=edat`` (the Entrez date: when the record entered PubMed, so records published long ago but
added lately are found), ``mindate``/``maxdate`` (YYYY/MM/DD), ``usehistory=y``; then ``efetch.fcgi``
with ``query_key``, ``WebEnv``, ``retstart``, ``retmax``, ``retmode=xml``. Every request carries
``tool`` and ``email``, and ``api_key`` when ``NCBI_API_KEY`` is set: without a key NCBI allows 3
requests a second, with one 10 (shared by every worker through Redis).
"""
import hashlib
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from django.conf import settings

from studies.imports import ImportFileError
from studies.imports.pubmed_xml import pubmed_xml_parse
from studies.models.records import ImportFormat
from studies.searches.base import Harvest, HarvestBuilder, SearchWindow
from studies.searches.errors import SearchServiceError
from studies.searches.http import ServiceClient, looks_like_html, service_words
from studies.searches.ratelimit import RateLimit

SERVICE = "PubMed"
# Records per efetch request, and ids per esearch page when there is no history (NCBI allows up to
# 10,000; 200 ids keep a GET's address short, as NCBI advises POST only beyond about 200).
FETCH_BATCH = 200
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


def _esearch(service: ServiceClient, query: str, window: SearchWindow, *, retstart: int = 0) -> dict:
    """One esearch answer as ``{"count", "webenv", "querykey", "ids", "error"}``.

    Asked for JSON (``retmode=json``), but XML (``eSearchResult``, esearch's documented default) is read
    as well: an E-utilities mirror that answers only in the default format still works.
    """
    response = service.get("esearch.fcgi", {
        "db": "pubmed", "term": query, "usehistory": "y", "retstart": retstart, "retmax": FETCH_BATCH,
        "retmode": "json", "datetype": "edat",
        "mindate": _date(window.start) if window.start else EARLIEST, "maxdate": _date(window.end)})
    if looks_like_html(response):
        raise SearchServiceError(f"{SERVICE} sent an HTML page instead of a search result: "
                                 f"{service_words(response.text)}")
    text = response.text.lstrip()
    if text.startswith("<"):
        return _esearch_xml(response.content)
    try:
        found = response.json()
    except ValueError as error:
        raise SearchServiceError(f"{SERVICE} sent an answer that is not complete JSON ({error}); "
                                 f"it began: {response.text[:120]!r}") from None
    result = found.get("esearchresult") if isinstance(found, dict) else None
    if not isinstance(result, dict):
        raise SearchServiceError(f"{SERVICE}'s esearch answer has no result: {service_words(response.text)}")
    return {"count": result.get("count"), "webenv": result.get("webenv"), "querykey": result.get("querykey"),
            "ids": [str(i) for i in result.get("idlist") or []],
            "error": result.get("ERROR") or found.get("error")}


def _esearch_xml(content: bytes) -> dict:
    try:
        root = fromstring(content)
    except (ParseError, DefusedXmlException):
        raise SearchServiceError(f"{SERVICE} sent an esearch answer that is not well-formed XML; "
                                 f"it began: {content[:120]!r}") from None
    if root.tag != "eSearchResult":
        raise SearchServiceError(f"{SERVICE}'s esearch answer is <{root.tag}>, not an <eSearchResult>.")
    return {"count": root.findtext("Count"), "webenv": root.findtext("WebEnv"), "querykey": root.findtext("QueryKey"),
            "ids": [(e.text or "").strip() for e in root.findall("IdList/Id") if (e.text or "").strip()],
            "error": root.findtext("ERROR")}


def _read(service: ServiceClient, builder: HarvestBuilder, params: dict, *, start: int, expected: int,
          count: int) -> None:
    """One efetch answer's records into ``builder``."""
    response = service.get("efetch.fcgi", {"db": "pubmed", "retmode": "xml", **params})
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


def harvest(*, query: str, window: SearchWindow, service: ServiceClient | None = None) -> Harvest:
    """Every PubMed record ``query`` finds with an Entrez date in ``window``.

    On the history server when esearch keeps the search there (``WebEnv``, ``QueryKey``): efetch by
    ``retstart``/``retmax``. Otherwise by ids (NBK25499's other way): esearch's ``IdList``, page by page,
    each page fetched with efetch's ``id``.
    """
    service = service or client()
    result = _esearch(service, query, window)
    if result["error"]:
        raise SearchServiceError(f"{SERVICE} refused the search: {result['error']}")
    try:
        count = int(result["count"])
    except (TypeError, ValueError):
        raise SearchServiceError(f"{SERVICE}'s esearch answer has no count: {str(result)[:200]}") from None
    builder = HarvestBuilder(ImportFormat.PUBMED_XML)
    web_env, query_key = result["webenv"], result["querykey"]
    if web_env and query_key:
        for start in range(0, count, FETCH_BATCH):
            _read(service, builder, {"query_key": query_key, "WebEnv": web_env, "retstart": start,
                                     "retmax": FETCH_BATCH}, start=start, expected=min(FETCH_BATCH, count - start),
                  count=count)
        return builder.build(reported=count, requests=service.requests_made)
    # By ids: the next page starts after the ids actually listed (a service may list fewer than asked).
    start, ids = 0, result["ids"]
    while start < count:
        if start:
            ids = _esearch(service, query, window, retstart=start)["ids"]
        if not ids:
            raise SearchServiceError(f"{SERVICE} counted {count} records but listed none from record {start + 1} "
                                     "and kept no history (no WebEnv).")
        _read(service, builder, {"id": ",".join(ids)}, start=start, expected=len(ids), count=count)
        start += len(ids)
    return builder.build(reported=count, requests=service.requests_made)
