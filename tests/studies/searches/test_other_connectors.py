"""Europe PMC, ClinicalTrials.gov, OpenAlex and Crossref against stand-ins of their documented APIs:
the same kinds of tests as PubMed's (every record intact, paging, a second run brings only what is new,
429 with Retry-After, 5xx, HTML error pages and cut-off JSON fail the run and write nothing)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
import json
import re

from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
import pytest

from tests.studies.searches.conftest import Answer, StandIn, run_once
from studies.models import DuplicateCandidate, ImportBatch, Record, RunStatus, SearchSource
from studies.imports.records import parsed_record_build
from studies.searches import clinicaltrials, crossref, europepmc, openalex
from studies.searches.base import CursorPage, harvest_by_cursor
from studies.searches.errors import SearchServiceError
from studies.services.searches import saved_search_save, search_run


_PLACES = ["Lagos", "Uppsala", "Osaka", "Porto Alegre", "Winnipeg", "Chennai", "Tbilisi", "Hobart", "Accra",
           "Valparaíso", "Gdańsk"]
_GROUPS = ["people living with schizophrenia", "veterans with post-traumatic stress", "students with depression"]


@dataclass
class Item:
    number: int
    day: date

    @property
    def title(self) -> str:
        # Distinct titles, as real trials have (registrations carry no DOI to tell them apart).
        place = _PLACES[self.number % len(_PLACES)]
        group = _GROUPS[self.number // len(_PLACES) % len(_GROUPS)]
        return f"Peer-delivered contact for {group} in {place}: a randomised trial ({self.number})"

    @property
    def doi(self) -> str:
        return f"10.5555/synth.connector.{self.number}"

    @property
    def abstract(self) -> str:
        return f"Objective: test peer contact {self.number}. Methods: 120 adults randomised. Results: less self-stigma."

    @property
    def nct(self) -> str:
        return f"NCT0{5000000 + self.number}"


def _offset(token: str | None) -> int:
    return int(token.rsplit("-", 1)[1]) if token and token != "*" else 0


class PagedStandIn(StandIn):
    """Shared paging and windowing: subclasses say how the window, page size and token are asked for."""

    path = ""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[Item] = []

    def window(self, params: dict[str, str]) -> tuple[date, date]:
        raise NotImplementedError

    def answer(self, path: str, params: dict[str, str]) -> Answer:
        if not path.endswith(self.path):
            return Answer(404, "<html><title>404 Not Found</title></html>", "text/html")
        try:
            low, high = self.window(params)
        except (KeyError, ValueError) as error:
            return Answer(400, json.dumps({"error": f"stand-in could not read the window: {error}"}))
        matched = [item for item in self.items if low <= item.day <= high]
        return self.page(matched, params)


def _iso(value: str, default: date) -> date:
    return default if value in ("MIN", "", None) else date.fromisoformat(value)


class EuropePmcStandIn(PagedStandIn):
    path = "/search"

    def window(self, params):
        found = re.search(r"FIRST_IDATE:\[(\S+) TO (\S+)\]", params["query"])
        return date.fromisoformat(found.group(1)), date.fromisoformat(found.group(2))

    def page(self, matched, params):
        assert params["format"] == "json" and params["resultType"] == "core"
        start, size = _offset(params.get("cursorMark")), int(params["pageSize"])
        chunk = matched[start:start + size]
        following = f"AoIIP-{start + len(chunk)}" if chunk else params.get("cursorMark")
        return Answer(200, json.dumps({"version": "6.9", "hitCount": len(matched), "nextCursorMark": following,
                                       "request": {"queryString": params["query"], "cursorMark": params["cursorMark"]},
                                       "resultList": {"result": [self.record(i) for i in chunk]}}))

    @staticmethod
    def record(item: Item) -> dict:
        pmid = str(39000000 + item.number)
        return {"id": pmid, "source": "MED", "pmid": pmid, "doi": item.doi, "title": item.title + ".",
                "authorString": "Okafor AN, Lindqvist P.",
                "authorList": {"author": [{"fullName": "Okafor AN", "lastName": "Okafor", "initials": "AN"},
                                          {"fullName": "Lindqvist P", "lastName": "Lindqvist", "initials": "P"}]},
                "journalInfo": {"issue": "3", "volume": "15", "yearOfPublication": 2024,
                                "journal": {"title": "Journal of Synthetic Mental Health Research"}},
                "pubYear": "2024", "pageInfo": f"e{item.number}", "abstractText": f"<h4>Objective</h4>{item.abstract}",
                "language": "eng", "pubTypeList": {"pubType": ["Randomized Controlled Trial", "Journal Article"]},
                "firstIndexDate": item.day.isoformat()}

    def expected(self, record: Record, item: Item) -> None:
        assert record.pmid == str(39000000 + item.number) and record.doi == item.doi
        assert record.title == item.title + "." and record.abstract == "Objective " + item.abstract
        assert record.authors == ["Okafor AN", "Lindqvist P"] and record.year == 2024


class ClinicalTrialsStandIn(PagedStandIn):
    path = "/studies"

    def window(self, params):
        found = re.fullmatch(r"AREA\[LastUpdatePostDate\]RANGE\[(\S+),(\S+)\]", params["filter.advanced"])
        return _iso(found.group(1), date(1900, 1, 1)), _iso(found.group(2), date(2999, 1, 1))

    def page(self, matched, params):
        start, size = _offset(params.get("pageToken")), int(params["pageSize"])
        chunk = matched[start:start + size]
        body = {"studies": [self.record(i) for i in chunk]}
        if params.get("countTotal") == "true":
            body["totalCount"] = len(matched)
        if start + size < len(matched):
            body["nextPageToken"] = f"NF0g5JOBlPQ-{start + size}"
        return Answer(200, json.dumps(body))

    @staticmethod
    def record(item: Item) -> dict:
        return {"protocolSection": {
            "identificationModule": {"nctId": item.nct, "briefTitle": f"Peer Contact Trial {item.number}",
                                     "officialTitle": item.title},
            "statusModule": {"overallStatus": "RECRUITING", "startDateStruct": {"date": "2024-02"},
                             "studyFirstPostDateStruct": {"date": "2024-01-15", "type": "ACTUAL"},
                             "lastUpdatePostDateStruct": {"date": item.day.isoformat(), "type": "ACTUAL"}},
            "sponsorCollaboratorsModule": {"leadSponsor": {"name": "Synthetic University Hospital", "class": "OTHER"}},
            "descriptionModule": {"briefSummary": item.abstract},
            "conditionsModule": {"conditions": ["Schizophrenia", "Social Stigma"], "keywords": ["peer support"]},
            "designModule": {"studyType": "INTERVENTIONAL"},
            "contactsLocationsModule": {"overallOfficials": [{"name": "Adaeze Okafor, MD", "role": "PRINCIPAL_INVESTIGATOR"}]},
        }, "hasResults": False}

    def expected(self, record: Record, item: Item) -> None:
        assert record.nct_id == item.nct and record.title == item.title and record.abstract == item.abstract
        assert record.url == f"https://clinicaltrials.gov/study/{item.nct}" and record.year == 2024
        assert record.journal == "ClinicalTrials.gov" and record.authors == ["Adaeze Okafor, MD"]


class OpenAlexStandIn(PagedStandIn):
    path = "/works"

    def window(self, params):
        parts = dict(part.split(":", 1) for part in params["filter"].split(","))
        return (date.fromisoformat(parts.get("from_created_date", "1900-01-01")),
                date.fromisoformat(parts["to_created_date"]))

    def page(self, matched, params):
        assert params["mailto"] == "searches@review.example"
        start, size = _offset(params.get("cursor")), int(params["per-page"])
        chunk = matched[start:start + size]
        following = f"IlsxNjk-{start + len(chunk)}" if chunk else None
        return Answer(200, json.dumps({"meta": {"count": len(matched), "db_response_time_ms": 21, "page": None,
                                                "per_page": size, "next_cursor": following, "groups_count": None},
                                       "results": [self.record(i) for i in chunk], "group_by": []}))

    @staticmethod
    def record(item: Item) -> dict:
        words = item.abstract.split(" ")
        inverted: dict[str, list[int]] = {}
        for position, word in enumerate(words):
            inverted.setdefault(word, []).append(position)
        return {"id": f"https://openalex.org/W40{item.number:08d}", "doi": f"https://doi.org/{item.doi}",
                "title": item.title, "display_name": item.title, "publication_year": 2024, "type": "article",
                "language": "en", "ids": {"openalex": f"https://openalex.org/W40{item.number:08d}",
                                          "pmid": f"https://pubmed.ncbi.nlm.nih.gov/{39100000 + item.number}"},
                "authorships": [{"author_position": "first", "author": {"display_name": "Adaeze N. Okafor"}}],
                "primary_location": {"source": {"display_name": "Journal of Synthetic Mental Health Research"}},
                "biblio": {"volume": "15", "issue": "3", "first_page": "101", "last_page": "110"},
                "abstract_inverted_index": inverted, "created_date": item.day.isoformat()}

    def expected(self, record: Record, item: Item) -> None:
        assert record.doi == item.doi and record.title == item.title and record.abstract == item.abstract
        assert record.pmid == str(39100000 + item.number) and record.pages == "101-110"


class CrossrefStandIn(PagedStandIn):
    path = "/works"

    def window(self, params):
        parts = dict(part.split(":", 1) for part in params["filter"].split(","))
        return (date.fromisoformat(parts.get("from-index-date", "1900-01-01")),
                date.fromisoformat(parts["until-index-date"]))

    def page(self, matched, params):
        assert params["mailto"] == "searches@review.example"
        start, size = _offset(params.get("cursor")), int(params["rows"])
        chunk = matched[start:start + size]
        return Answer(200, json.dumps({"status": "ok", "message-type": "work-list", "message-version": "1.0.0",
                                       "message": {"facets": {}, "total-results": len(matched),
                                                   "items": [self.record(i) for i in chunk], "items-per-page": size,
                                                   "query": {"start-index": 0, "search-terms": params["query"]},
                                                   "next-cursor": f"DnF1ZXJ5VGhlbkZldGNo-{start + len(chunk)}"}}))

    @staticmethod
    def record(item: Item) -> dict:
        return {"DOI": item.doi.upper(), "title": [item.title], "type": "journal-article",
                "container-title": ["Journal of Synthetic Mental Health Research"], "volume": "15", "issue": "3",
                "page": "101-110", "published": {"date-parts": [[2024, 3, 2]]},
                "author": [{"given": "Adaeze N.", "family": "Okafor", "sequence": "first"}],
                "abstract": f"<jats:p>{item.abstract}</jats:p>", "URL": f"https://doi.org/{item.doi}",
                "indexed": {"date-parts": [[item.day.year, item.day.month, item.day.day]]}}

    def expected(self, record: Record, item: Item) -> None:
        assert record.doi == item.doi and record.title == item.title and record.abstract == item.abstract
        assert record.authors == ["Okafor, Adaeze N."] and record.year == 2024


@dataclass
class Service:
    database: str
    label: str
    setting: str
    stand_in: type[PagedStandIn]
    connector: object
    page_setting: str = "PAGE_SIZE"


SERVICES = [
    Service("europepmc", "Europe PMC", "EUROPEPMC_URL", EuropePmcStandIn, europepmc),
    Service("clinicaltrials", "ClinicalTrials.gov", "CTGOV_URL", ClinicalTrialsStandIn, clinicaltrials),
    Service("openalex", "OpenAlex", "OPENALEX_URL", OpenAlexStandIn, openalex),
    Service("crossref", "Crossref", "CROSSREF_URL", CrossrefStandIn, crossref),
]


@pytest.fixture(params=SERVICES, ids=[s.database for s in SERVICES])
def service(request, settings, monkeypatch):
    spec: Service = request.param
    stand_in, server = run_once(spec.stand_in)
    setattr(settings, spec.setting, stand_in.url + "/")
    monkeypatch.setattr(spec.connector, spec.page_setting, 3)  # several pages from a few records
    yield spec, stand_in
    server.shutdown()
    server.server_close()


def _items(start: int, count: int, day: date) -> list[Item]:
    return [Item(number, day) for number in range(start, start + count)]


def _search(team, spec):
    return saved_search_save(review=team.review, user=team.manager, database=spec.database,
                             query="peer support AND stigma", first_date=timezone.localdate() - timedelta(days=90))


def test_first_run_stores_every_record_intact_over_several_pages(team, service):
    spec, stand_in = service
    stand_in.items = _items(1, 7, timezone.localdate() - timedelta(days=10))
    run = search_run(search=_search(team, spec))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.found, run.new, run.duplicates) == (7, 7, 0)
    assert len(stand_in.requests) >= 3  # 7 records at 3 a page
    records = list(Record.objects.filter(import_batch_id=run.batch_id).order_by("id"))
    assert len(records) == 7
    for record, item in zip(records, stand_in.items, strict=True):
        stand_in.expected(record, item)
    assert ImportBatch.objects.get(pk=run.batch_id).source.database == spec.label


def test_a_second_run_brings_only_what_is_new(team, service):
    spec, stand_in = service
    today = timezone.localdate()
    stand_in.items = _items(1, 4, today - timedelta(days=20)) + _items(5, 2, today - timedelta(days=1))
    search = _search(team, spec)
    assert search_run(search=search).new == 6
    stand_in.items += _items(7, 2, today)
    second = search_run(search=search)
    assert second.status == RunStatus.SUCCEEDED, second.error
    assert (second.found, second.new, second.duplicates) == (4, 2, 2)  # 2 from the overlap, 2 new
    assert Record.objects.filter(import_batch_id=second.batch_id).count() == 2
    assert Record.objects.filter(review=team.review).count() == 8


def test_429_with_retry_after_and_a_5xx_are_retried(team, service):
    spec, stand_in = service
    stand_in.items = _items(1, 2, timezone.localdate())
    stand_in.script(stand_in.path, Answer(429, json.dumps({"error": "Too Many Requests"}), headers={"Retry-After": "1"}),
                    Answer(503, "Service Unavailable", "text/plain"))
    run = search_run(search=_search(team, spec))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.new == 2
    assert stand_in.requests[1].at - stand_in.requests[0].at >= 0.95


@pytest.mark.parametrize("bad, words", [
    (Answer(200, "<!DOCTYPE html><html><head><title>Maintenance</title></head><body><p>The service is down for "
                 "scheduled maintenance.</p></body></html>", "text/html"), "HTML page instead of JSON"),
    (None, "not complete JSON"),
    (Answer(400, json.dumps({"status": "failed", "message-type": "validation-failure", "message": [
        {"type": "unknown-parameter", "message": "Query contains an unknown search field"}],
        "error": "Query contains an unknown search field"})), "unknown search field"),
], ids=["html-page", "truncated-json", "refused"])
def test_a_malformed_answer_fails_the_run_with_the_services_words_and_writes_nothing(team, service, bad, words):
    spec, stand_in = service
    stand_in.items = _items(1, 7, timezone.localdate())
    if bad is None:  # the second page cut off in the middle
        whole = stand_in.page(stand_in.items, {"pageSize": "3", "per-page": "3", "rows": "3", "format": "json",
                                               "resultType": "core", "mailto": "searches@review.example",
                                               "query": "q", "cursorMark": "x-3", "pageToken": "x-3",
                                               "cursor": "x-3", "countTotal": "true"}).body
        stand_in.script(stand_in.path, Answer(200, whole[: len(whole) // 2]))
        # The first page is fine: the failure comes after some records were read.
        first = stand_in.answer(stand_in.path, {"query": f"q FIRST_IDATE:[2000-01-01 TO {date.today()}]",
                                                "filter.advanced": f"AREA[LastUpdatePostDate]RANGE[MIN,{date.today()}]",
                                                "filter": f"to_created_date:{date.today()},until-index-date:{date.today()}",
                                                "pageSize": "3", "per-page": "3", "rows": "3", "format": "json",
                                                "resultType": "core", "mailto": "searches@review.example",
                                                "cursorMark": "*", "cursor": "*", "countTotal": "true"})
        stand_in._scripted.appendleft((stand_in.path, first))
    else:
        stand_in.script(stand_in.path, bad)
    run = search_run(search=_search(team, spec))
    assert run.status == RunStatus.FAILED
    assert words in run.error and spec.label in run.error
    assert not Record.objects.filter(review=team.review).exists()
    assert not SearchSource.objects.filter(review=team.review).exists()


def test_a_registration_is_linked_to_a_later_publication_by_its_nct_id(team, settings, monkeypatch):
    """ClinicalTrials.gov's record and a publication naming the same NCT id are paired for the team
    (dedup queues them as "perhaps different reports of one study"), not silently merged."""
    stand_in, server = run_once(ClinicalTrialsStandIn)
    try:
        settings.CTGOV_URL = stand_in.url
        item = Item(42, timezone.localdate())
        stand_in.items = [item]
        search = saved_search_save(review=team.review, user=team.manager, database="clinicaltrials", query="stigma")
        registration_run = search_run(search=search)
        assert registration_run.new == 1
        publication = ("TY  - JOUR\nTI  - Twelve-month outcomes of a peer contact programme for self-stigma\n"
                       f"AB  - Trial registration: {item.nct}. Results at 12 months.\nPY  - 2026\nER  - \n").encode()
        from studies.services.imports import import_file

        summary = import_file(review=team.review, database="Embase", date_searched=timezone.localdate(), query="",
                              file_name="embase.ris", content=publication)
        assert summary.imported == 1 and summary.queued == 1
        pair = DuplicateCandidate.objects.get(review=team.review)
        assert pair.method == "nct" and "different reports" in pair.reason
    finally:
        server.shutdown()
        server.server_close()


def test_the_command_line_saves_runs_and_prints_one_json_line_per_run(team, settings, capsys):
    stand_in, server = run_once(OpenAlexStandIn)
    failing, failing_server = run_once(CrossrefStandIn)
    try:
        settings.OPENALEX_URL, settings.CROSSREF_URL = stand_in.url, failing.url
        stand_in.items = _items(1, 3, timezone.localdate())
        call_command("search_save", "--review", team.review.slug, "--database", "openalex", "--query", "peer stigma",
                     "--since", "2025-01-01", "--every-days", "14")
        saved = json.loads(capsys.readouterr().out)
        assert saved["database"] == "openalex" and saved["every_days"] == 14 and saved["since"] == "2025-01-01"
        call_command("searches_run", "--review", team.review.slug, "--search", str(saved["search"]))
        line = json.loads(capsys.readouterr().out)
        batch = Record.objects.filter(review=team.review).values_list("import_batch_id", flat=True).first()
        assert line == {"search": saved["search"], "database": "openalex", "found": 3, "new": 3, "duplicates": 0,
                        "batch": batch, "errors": []}
        # A failing search: its line names the error, and the command exits non-zero.
        call_command("search_save", "--review", team.review.slug, "--database", "crossref", "--query", "stigma")
        capsys.readouterr()
        failing.script("/works", *[Answer(500, "Internal Server Error", "text/plain")] * 4)
        with pytest.raises(CommandError) as raised:
            call_command("searches_run", "--review", team.review.slug, "--all")
        assert raised.value.returncode == 1
        lines = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
        assert [(x["database"], x["new"], bool(x["errors"])) for x in lines] == [("openalex", 0, False),
                                                                                  ("crossref", 0, True)]
        assert "Crossref answered 500" in lines[1]["errors"][0] and lines[1]["batch"] is None
    finally:
        for server_ in (server, failing_server):
            server_.shutdown()
            server_.server_close()


def test_a_nul_character_in_a_services_json_is_left_out():
    """JSON may escape a NUL character (\\u0000), which PostgreSQL cannot store: it is left out of the
    strings, and a backslash followed by "u0000" (an escaped backslash) is kept."""
    from studies.searches.http import json_without_nul

    assert json_without_nul('{"a": "x\\u0000y", "b": "\\\\u0000", "c": "\\\\\\u0000z", "d": ["\\u0000"]}') == {
        "a": "xy", "b": "\\u0000", "c": "\\z", "d": [""]}


class _PagedAnswers:
    """The service side of harvest_by_cursor's loop: pages of an answer in order, whatever cursor is
    asked for, and the cursors asked for kept to check."""

    def __init__(self, pages):
        self.pages, self.asked, self.requests_made = list(pages), [], 0

    def get_json(self, path, params):
        self.asked.append(params["cursor"])
        self.requests_made += 1
        return self.pages.pop(0)


def _cursor_page(answer):
    return CursorPage(reported=answer["count"], items=answer["items"], next_cursor=answer["next"])


def _source_record(number, item):
    return str(item["id"]), parsed_record_build(record=number, line=number, raw_entry="{}", title=f"Trial {item['id']}")


def _harvest(pages, **options):
    service = _PagedAnswers(pages)
    harvest = harvest_by_cursor(service, service_name="Stand-in", path="works", params={}, cursor_param="cursor",
                                read_page=_cursor_page, source_record=_source_record, **options)
    return harvest, service.asked


def test_the_cursor_loop_follows_a_scroll_cursor_that_stays_the_same_and_stops_at_a_repeated_cursormark():
    """A scroll-style cursor (Crossref's may be the same string on every page) is followed to the
    empty page; Solr's cursorMark (Europe PMC) ends when a page gives back the cursor it was asked with."""
    scroll = [{"count": 3, "items": [{"id": 1}, {"id": 2}], "next": "SCROLL"},
              {"count": 3, "items": [{"id": 3}], "next": "SCROLL"},
              {"count": 3, "items": [], "next": "SCROLL"}]
    harvest, asked = _harvest(scroll)
    assert harvest.ids == ("1", "2", "3") and asked == ["*", "SCROLL", "SCROLL"] and harvest.requests == 3
    solr = [{"count": 2, "items": [{"id": 1}], "next": "AoE1"},
            {"count": 2, "items": [{"id": 2}], "next": "AoE1"}]
    harvest, asked = _harvest(solr, last_cursor_repeats=True)
    assert harvest.ids == ("1", "2") and asked == ["*", "AoE1"]
    with pytest.raises(SearchServiceError, match="Stand-in announced 5 works but its pages held 1"):
        _harvest([{"count": 5, "items": [{"id": 1}], "next": None}], noun="works")


def test_the_cursor_loop_stops_at_a_service_that_keeps_giving_the_same_page():
    same = {"count": 4, "items": [{"id": 1}, {"id": 2}], "next": "SCROLL"}
    with pytest.raises(SearchServiceError, match="gave 3 pages in a row with no record not already taken"):
        _harvest([same] * 10)
