"""Local stand-ins of the five search services, speaking each one's documented format (no internet).

Each stand-in is a real HTTP server in a thread. It keeps synthetic records (written for these tests,
with real-looking fields; no real PubMed record is copied), filters them by the date window the
client asks for, pages them the way the service does, and records every request it receives (time,
path, parameters) so tests can check rates, paging and the parameters sent. ``script`` queues
misbehaviour for the next matching requests: an error status with ``Retry-After``, an HTML error page,
a truncated body, a hang past the client's timeout.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import threading
import time
from urllib.parse import parse_qs, urlparse
import uuid
from xml.sax.saxutils import escape

from django.contrib.auth import get_user_model
import pytest

from studies.models import Role
from studies.services import membership_add, review_create
from studies.services.reviews import managers_group_ensure


@dataclass
class Answer:
    status: int = 200
    body: bytes | str = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a hang, for timeouts)


@dataclass
class Seen:
    at: float  # time.monotonic() when the request arrived
    path: str
    params: dict[str, str]


class StandIn:
    """A base for one service: subclasses answer ``GET path?params`` in ``answer``."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self._scripted: deque[tuple[str, Answer]] = deque()
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    # Misbehaviour, consumed by the next requests whose path ends with ``path``.
    def script(self, path: str, *answers: Answer) -> None:
        for answer in answers:
            self._scripted.append((path, answer))

    def _take_script(self, path: str) -> Answer | None:
        with self._lock:
            for index, (wanted, answer) in enumerate(self._scripted):
                if path.endswith(wanted):
                    del self._scripted[index]
                    return answer
        return None

    def handle(self, path: str, params: dict[str, str]) -> Answer:
        with self._lock:
            self.requests.append(Seen(time.monotonic(), path, params))
        return self._take_script(path) or self.answer(path, params)

    def answer(self, path: str, params: dict[str, str]) -> Answer:  # pragma: no cover - overridden
        raise NotImplementedError

    def of(self, path: str) -> list[Seen]:
        return [seen for seen in self.requests if seen.path.endswith(path)]

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"


def _serve(stand_in: StandIn):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the standard library's name
            parsed = urlparse(self.path)
            params = {key: values[-1] for key, values in parse_qs(parsed.query, keep_blank_values=True).items()}
            answer = stand_in.handle(parsed.path, params)
            if answer.delay:
                time.sleep(answer.delay)
            body = answer.body.encode() if isinstance(answer.body, str) else answer.body
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    stand_in.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


def _day(value: str, fmt: str) -> date:
    return datetime.strptime(value, fmt).date()


# --- PubMed E-utilities -----------------------------------------------------------------------------


@dataclass
class PubmedRecord:
    """A synthetic PubMed article: the fields the tests check, and the Entrez date it entered PubMed."""

    pmid: str
    title: str
    doi: str
    abstract: list[tuple[str, str]]  # (label, text) sections, as PubMed structures abstracts
    entered: date
    authors: list[tuple[str, str]] = field(default_factory=lambda: [("Okafor", "Adaeze N"), ("Lindqvist", "Per")])
    journal: str = "Journal of Synthetic Mental Health Research"
    year: int = 2024
    nct: str = ""

    @property
    def abstract_text(self) -> str:
        return " ".join(f"{label}: {text}" if label else text for label, text in self.abstract)

    def xml(self) -> str:
        authors = "".join(f'<Author ValidYN="Y"><LastName>{escape(last)}</LastName><ForeName>{escape(fore)}</ForeName>'
                          f"<Initials>{''.join(w[0] for w in fore.split())}</Initials></Author>"
                          for last, fore in self.authors)
        abstract = "".join(f'<AbstractText Label="{label}" NlmCategory="{label}">{escape(text)}</AbstractText>'
                           if label else f"<AbstractText>{escape(text)}</AbstractText>" for label, text in self.abstract)
        bank = (f"<DataBankList CompleteYN=\"Y\"><DataBank><DataBankName>ClinicalTrials.gov</DataBankName>"
                f"<AccessionNumberList><AccessionNumber>{self.nct}</AccessionNumber></AccessionNumberList>"
                f"</DataBank></DataBankList>" if self.nct else "")
        e = self.entered
        return f"""<PubmedArticle>
    <MedlineCitation Status="PubMed-not-MEDLINE" Owner="NLM" IndexingMethod="Automated">
      <PMID Version="1">{self.pmid}</PMID>
      <DateRevised><Year>{e.year}</Year><Month>{e.month:02d}</Month><Day>{e.day:02d}</Day></DateRevised>
      <Article PubModel="Electronic-eCollection">
        <Journal>
          <ISSN IssnType="Print">1664-0640</ISSN>
          <JournalIssue CitedMedium="Print"><Volume>15</Volume><Issue>3</Issue><PubDate><Year>{self.year}</Year><Month>Mar</Month></PubDate></JournalIssue>
          <Title>{escape(self.journal)}</Title>
          <ISOAbbreviation>J Synth Ment Health Res</ISOAbbreviation>
        </Journal>
        <ArticleTitle>{escape(self.title)}</ArticleTitle>
        <Pagination><StartPage>1{self.pmid[-3:]}</StartPage><MedlinePgn>1{self.pmid[-3:]}</MedlinePgn></Pagination>
        <ELocationID EIdType="doi" ValidYN="Y">{self.doi}</ELocationID>
        <Abstract>{abstract}<CopyrightInformation>Copyright © {self.year} The authors.</CopyrightInformation></Abstract>
        <AuthorList CompleteYN="Y">{authors}</AuthorList>
        <Language>eng</Language>
        {bank}
        <PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType><PublicationType UI="D016449">Randomized Controlled Trial</PublicationType></PublicationTypeList>
        <ArticleDate DateType="Electronic"><Year>{self.year}</Year><Month>03</Month><Day>02</Day></ArticleDate>
      </Article>
      <MedlineJournalInfo><Country>Switzerland</Country><MedlineTA>J Synth Ment Health Res</MedlineTA></MedlineJournalInfo>
      <KeywordList Owner="NOTNLM"><Keyword MajorTopicYN="N">peer support</Keyword><Keyword MajorTopicYN="N">self-stigma</Keyword></KeywordList>
    </MedlineCitation>
    <PubmedData>
      <History>
        <PubMedPubDate PubStatus="received"><Year>{self.year - 1}</Year><Month>11</Month><Day>20</Day></PubMedPubDate>
        <PubMedPubDate PubStatus="entrez"><Year>{e.year}</Year><Month>{e.month}</Month><Day>{e.day}</Day><Hour>6</Hour><Minute>3</Minute></PubMedPubDate>
      </History>
      <PublicationStatus>epublish</PublicationStatus>
      <ArticleIdList>
        <ArticleId IdType="pubmed">{self.pmid}</ArticleId>
        <ArticleId IdType="doi">{self.doi}</ArticleId>
      </ArticleIdList>
    </PubmedData>
  </PubmedArticle>"""


PUBMED_HEAD = ('<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
               '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n')


class PubmedStandIn(StandIn):
    """E-utilities: ``esearch.fcgi`` (JSON, history server, Entrez-date window) and ``efetch.fcgi`` (XML)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[PubmedRecord] = []
        self.histories: dict[str, list[str]] = {}
        # How a mirror may differ and still follow NBK25499: esearch's default XML answer whatever
        # ``retmode`` says, and no history server (ids in ``IdList``, fetched with efetch's ``id``).
        self.esearch_xml = False
        self.history = True
        self.esearch_cap: int | None = None  # a mirror that lists at most this many ids per esearch page

    def _esearch_xml(self, matched: list[str], start: int, size: int, web_env: str) -> Answer:
        # The eSearchResult of NBK25499 (esearch's default retmode), as PubMed sends it.
        ids = "".join(f"<Id>{pmid}</Id>" for pmid in matched[start:start + size])
        history = f"<QueryKey>1</QueryKey><WebEnv>{web_env}</WebEnv>" if self.history else ""
        return Answer(200, '<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eSearchResult PUBLIC '
                           '"-//NLM//DTD esearch 20060628//EN" "https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
                           f"<eSearchResult><Count>{len(matched)}</Count><RetMax>{len(matched[start:start + size])}</RetMax>"
                           f"<RetStart>{start}</RetStart>{history}<IdList>{ids}</IdList><TranslationSet/>"
                           "<QueryTranslation>stigma[tiab]</QueryTranslation></eSearchResult>", "text/xml; charset=UTF-8")

    def answer(self, path: str, params: dict[str, str]) -> Answer:
        if path.endswith("/esearch.fcgi"):
            if params.get("datetype") != "edat" or "mindate" not in params or params.get("usehistory") != "y":
                return Answer(400, json.dumps({"error": "this stand-in expects datetype=edat, dates and usehistory"}))
            low, high = _day(params["mindate"], "%Y/%m/%d"), _day(params["maxdate"], "%Y/%m/%d")
            # Newest first, as PubMed sorts by default.
            matched = [r.pmid for r in sorted(self.records, key=lambda r: r.entered, reverse=True)
                       if low <= r.entered <= high]
            web_env = f"MCID_{uuid.uuid4().hex[:20]}"
            self.histories[web_env] = matched
            start, size = int(params.get("retstart", 0)), int(params.get("retmax", 20))
            size = min(size, self.esearch_cap or size)
            if self.esearch_xml or params.get("retmode") != "json":
                return self._esearch_xml(matched, start, size, web_env)
            history = {"querykey": "1", "webenv": web_env} if self.history else {}
            return Answer(200, json.dumps({"header": {"type": "esearch", "version": "0.3"}, "esearchresult": {
                "count": str(len(matched)), "retmax": str(len(matched[start:start + size])), "retstart": str(start),
                **history, "idlist": matched[start:start + size], "translationset": [],
                "querytranslation": params.get("term", "")}}))
        if path.endswith("/efetch.fcgi") and "id" in params:
            by_pmid = {r.pmid: r for r in self.records}
            body = "\n".join(by_pmid[p].xml() for p in params["id"].split(",") if p in by_pmid)
            return Answer(200, f"{PUBMED_HEAD}<PubmedArticleSet>\n{body}\n</PubmedArticleSet>", "text/xml; charset=UTF-8")
        if path.endswith("/efetch.fcgi"):
            pmids = self.histories.get(params.get("WebEnv", ""))
            if pmids is None or params.get("query_key") != "1":
                return Answer(400, "<?xml version=\"1.0\"?><eFetchResult><ERROR>Unable to obtain query #1</ERROR>"
                                   "</eFetchResult>", "text/xml")
            start, size = int(params.get("retstart", 0)), int(params.get("retmax", 20))
            by_pmid = {r.pmid: r for r in self.records}
            body = "\n".join(by_pmid[p].xml() for p in pmids[start:start + size])
            return Answer(200, f"{PUBMED_HEAD}<PubmedArticleSet>\n{body}\n</PubmedArticleSet>", "text/xml; charset=UTF-8")
        return Answer(404, "<html><title>404 Not Found</title></html>", "text/html")


@pytest.fixture
def pubmed(settings):
    stand_in = PubmedStandIn()
    server = _serve(stand_in)
    settings.PUBMED_EUTILS_URL = stand_in.url + "/entrez/eutils/"
    yield stand_in
    server.shutdown()
    server.server_close()


def run_once(stand_in_factory):
    """Start a stand-in of ``stand_in_factory`` (for the other services' fixtures)."""
    stand_in = stand_in_factory()
    return stand_in, _serve(stand_in)


@pytest.fixture(autouse=True)
def search_settings(settings):
    """Fast retries and a rate-limit key of this test's own in the machine's Redis."""
    settings.SEARCH_RATE_KEY_PREFIX = f"test-search-rate:{uuid.uuid4().hex}"
    settings.SEARCH_RETRY_BASE_SECONDS = 0.05
    settings.SEARCH_HTTP_TIMEOUT_SECONDS = 2
    settings.SEARCH_MAX_RETRIES = 3
    settings.NCBI_API_KEY = ""
    settings.SEARCH_CONTACT_EMAIL = "searches@review.example"
    return settings


@dataclass
class SearchTeam:
    review: object
    manager: object
    screener: object


@pytest.fixture
def team(db) -> SearchTeam:
    users = get_user_model()
    manager = users.objects.create_user("search-manager", email="manager@review.example", password="a-long-test-password",
                                        is_staff=True)
    manager.groups.add(managers_group_ensure())
    review = review_create(title="Peer support for self-stigma (living)", slug="living-searches", created_by=manager)
    screener = users.objects.create_user("search-screener", email="screener@review.example",
                                         password="a-long-test-password")
    membership_add(review=review, user=screener, role=Role.SCREENER)
    return SearchTeam(review=review, manager=manager, screener=screener)
