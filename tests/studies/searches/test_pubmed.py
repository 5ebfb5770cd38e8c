"""PubMed living searches against a stand-in of E-utilities (issue 21's "Done when")."""
from datetime import timedelta
import threading

from django.core.exceptions import PermissionDenied
from django.utils import timezone
import pytest

from tests.studies.searches.conftest import Answer, PubmedRecord
from studies import selectors
from studies.models import ImportBatch, Record, RunStatus, SearchRun, SearchSource, Stage
from studies.searches import SearchWindow
from studies.searches import pubmed as pubmed_connector
from studies.services.searches import runs_stuck_fail, saved_search_save, search_run, searches_due


def _records(count: int, *, start: int = 0, entered=None) -> list[PubmedRecord]:
    entered = entered or timezone.localdate() - timedelta(days=30)
    return [PubmedRecord(
        pmid=str(38100200 + i), doi=f"10.5555/synth.{2024 + i % 2}.{1000 + i}",
        title=f"Peer-led group sessions and self-stigma in adults with serious mental illness: trial {i} "
              f"(<i>n</i> = {40 + i})" if i % 3 == 0 else f"A randomised trial of peer support number {i} for stigma stress",
        abstract=[("BACKGROUND", f"Self-stigma harms recovery; study {i} tested peer-led groups."),
                  ("METHODS", "Adults were randomised 1:1; outcomes at 10 weeks; p < 0.05 was significant."),
                  ("RESULTS", f"Self-stigma fell more with peer-led groups (SMD -0.{i % 9 + 1}).")],
        entered=entered) for i in range(start, start + count)]


def _search(team, **kwargs):
    return saved_search_save(review=team.review, user=team.manager, database="pubmed",
                             query='("peer support"[tiab] OR "peer-led"[tiab]) AND stigma[tiab]',
                             first_date=timezone.localdate() - timedelta(days=365), **kwargs)


def test_first_run_stores_every_record_with_pmid_title_doi_and_abstract(team, pubmed):
    pubmed.records = _records(7)
    search = _search(team)
    run = search_run(search=search, user=team.manager)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.found, run.new, run.duplicates) == (7, 7, 0)
    stored = {r.pmid: r for r in Record.objects.filter(review=team.review)}
    assert set(stored) == {r.pmid for r in pubmed.records}
    for expected in pubmed.records:
        record = stored[expected.pmid]
        assert record.title == expected.title.replace("<i>n</i>", "n")
        assert record.doi == expected.doi
        assert record.abstract == expected.abstract_text
        assert record.authors == ["Okafor, Adaeze N", "Lindqvist, Per"]
        assert record.journal == "Journal of Synthetic Mental Health Research" and record.year == 2024
        assert record.import_batch_id == run.batch_id
    batch = ImportBatch.objects.get(pk=run.batch_id)
    assert batch.file_format == "pubmed_xml"
    assert (batch.source.database, batch.source.query, batch.source.date_searched) == (
        "PubMed", search.query, timezone.localdate())
    # The window asked for: the search's first date to today, by Entrez date; tool and email sent.
    esearch = pubmed.of("esearch.fcgi")[0].params
    assert esearch["mindate"] == search.first_date.strftime("%Y/%m/%d")
    assert esearch["maxdate"] == timezone.localdate().strftime("%Y/%m/%d")
    assert esearch["tool"] == "living-review" and esearch["email"] == "searches@review.example"
    assert "api_key" not in esearch


def test_a_second_run_adds_exactly_the_two_records_that_appeared(team, pubmed):
    today = timezone.localdate()
    # Two records entered yesterday fall in the next run's overlap: found again, not stored again.
    pubmed.records = _records(5) + _records(2, start=5, entered=today - timedelta(days=1))
    search = _search(team)
    first = search_run(search=search)
    assert first.new == 7
    pubmed.records += _records(2, start=7, entered=today)
    second = search_run(search=search)
    assert second.status == RunStatus.SUCCEEDED, second.error
    assert second.window_start == today - timedelta(days=2) and second.window_end == today
    assert (second.found, second.new, second.duplicates) == (4, 2, 2)
    added = Record.objects.filter(import_batch_id=second.batch_id)
    assert sorted(added.values_list("pmid", flat=True)) == ["38100207", "38100208"]
    assert Record.objects.filter(review=team.review).count() == 9
    # The screeners' home counts them: the new records are in their title/abstract queue.
    assert selectors.screening_left(review=team.review, stage=Stage.TITLE_ABSTRACT, screener=team.screener) == 9


def test_a_429_with_retry_after_is_retried_after_the_wait(team, pubmed):
    pubmed.records = _records(3)
    pubmed.script("esearch.fcgi", Answer(429, '{"error":"API rate limit exceeded","api-key":"127.0.0.1",'
                                              '"count":"4","limit":"3"}', headers={"Retry-After": "1"}))
    run = search_run(search=_search(team))
    assert run.status == RunStatus.SUCCEEDED, run.error
    first, second = pubmed.of("esearch.fcgi")
    assert second.at - first.at >= 0.95  # Retry-After: 1 was honoured
    assert run.new == 3


def test_5xx_and_a_hang_are_retried_with_backoff(team, pubmed, settings):
    settings.SEARCH_HTTP_TIMEOUT_SECONDS = 0.5
    pubmed.records = _records(3)
    pubmed.script("efetch.fcgi", Answer(502, "<html><head><title>502 Bad Gateway</title></head></html>", "text/html"),
                  Answer(delay=1.5))
    run = search_run(search=_search(team))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert len(pubmed.of("efetch.fcgi")) == 3 and run.new == 3


def test_retries_are_capped_and_the_failure_says_what_the_service_said(team, pubmed):
    pubmed.records = _records(3)
    pubmed.script("esearch.fcgi", *[Answer(503, "<html><title>503 Service Unavailable</title><body>Backend fetch "
                                                "failed</body></html>", "text/html")] * 4)
    run = search_run(search=_search(team))
    assert run.status == RunStatus.FAILED
    assert "503" in run.error and "Service Unavailable" in run.error and "4 attempts" in run.error
    assert len(pubmed.of("esearch.fcgi")) == 4


def _nothing_written(team):
    assert not Record.objects.filter(review=team.review).exists()
    assert not ImportBatch.objects.filter(review=team.review).exists()
    assert not SearchSource.objects.filter(review=team.review).exists()


def test_an_html_error_page_instead_of_xml_fails_the_run_clearly_and_writes_nothing(team, pubmed, monkeypatch):
    monkeypatch.setattr(pubmed_connector, "FETCH_BATCH", 3)
    pubmed.records = _records(7)
    # The first batch is fine; the second comes back as an HTML page with status 200.
    pubmed.script("efetch.fcgi", Answer(200, _first_page(pubmed), "text/xml"),
                  Answer(200, "<!DOCTYPE html><html><head><title>NCBI - WWW Error Blocked Diagnostic</title></head>"
                              "<body><h1>Your access is temporarily blocked</h1></body></html>", "text/html"))
    run = search_run(search=_search(team))
    assert run.status == RunStatus.FAILED
    assert "HTML page instead of XML" in run.error and "WWW Error Blocked Diagnostic" in run.error
    assert "records 4–6" in run.error
    _nothing_written(team)
    assert run.errors == [run.error] and SearchRun.objects.get(pk=run.pk).finished_at is not None


def _first_page(stand_in) -> str:
    from tests.studies.searches.conftest import PUBMED_HEAD

    ordered = sorted(stand_in.records, key=lambda r: r.entered, reverse=True)
    return PUBMED_HEAD + "<PubmedArticleSet>" + "".join(r.xml() for r in ordered[:3]) + "</PubmedArticleSet>"


def test_truncated_xml_fails_the_run_and_writes_nothing(team, pubmed):
    pubmed.records = _records(4)
    whole = _first_page(pubmed)
    pubmed.script("efetch.fcgi", Answer(200, whole[: len(whole) // 2], "text/xml"))
    run = search_run(search=_search(team))
    assert run.status == RunStatus.FAILED
    assert "could not be read" in run.error and "not well formed" in run.error
    _nothing_written(team)


def test_a_refused_query_fails_with_pubmeds_words(team, pubmed):
    pubmed.script("esearch.fcgi", Answer(200, '{"header":{},"esearchresult":{"ERROR":"Invalid query: unbalanced '
                                              'parentheses"}}'))
    run = search_run(search=_search(team))
    assert run.status == RunStatus.FAILED and "Invalid query: unbalanced parentheses" in run.error


def _most_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times))


def _harvest_in_threads(threads: int, query_suffix: str) -> None:
    errors = []

    def work(n: int) -> None:
        try:
            pubmed_connector.harvest(query=f"stigma {query_suffix} {n}", window=SearchWindow(None, timezone.localdate()))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors


def test_no_more_than_3_requests_in_any_second_without_a_key_across_workers(pubmed, monkeypatch, search_settings):
    """Two workers harvesting at once (each its own client, as two Celery processes would) share the
    limit through Redis: NCBI sees at most 3 requests in any second."""
    monkeypatch.setattr(pubmed, "records", _records(8))
    monkeypatch.setattr("studies.searches.pubmed.FETCH_BATCH", 2)
    _harvest_in_threads(2, "no key")  # 2 × (1 esearch + 4 efetch) = 10 requests
    times = [seen.at for seen in pubmed.requests]
    assert len(times) == 10
    assert _most_in_any_second(times) <= 3
    assert all("api_key" not in seen.params for seen in pubmed.requests)


def test_with_an_api_key_up_to_10_requests_a_second(pubmed, monkeypatch, search_settings):
    search_settings.NCBI_API_KEY = "synthetic-test-key-0001"
    monkeypatch.setattr(pubmed, "records", _records(16))
    monkeypatch.setattr("studies.searches.pubmed.FETCH_BATCH", 2)
    _harvest_in_threads(3, "with key")  # 3 × (1 + 8) = 27 requests
    times = [seen.at for seen in pubmed.requests]
    assert len(times) == 27
    most = _most_in_any_second(times)
    assert 3 < most <= 10  # faster than without a key, never above NCBI's 10
    assert all(seen.params.get("api_key") == "synthetic-test-key-0001" for seen in pubmed.requests)


def test_a_failed_run_is_covered_by_the_next_and_the_managers_hear_of_two_failures(
        team, pubmed, mailoutbox, django_capture_on_commit_callbacks):
    today = timezone.localdate()
    pubmed.records = _records(3, entered=today - timedelta(days=20))
    search = _search(team)
    assert search_run(search=search).status == RunStatus.SUCCEEDED
    # Later records, then two failures: nothing of them is stored, and the managers are told once.
    pubmed.records += _records(2, start=3, entered=today)
    for _ in range(2):
        pubmed.script("esearch.fcgi", *[Answer(500, "Internal Server Error", "text/plain")] * 4)
        with django_capture_on_commit_callbacks(execute=True):
            failed = search_run(search=search)
        assert failed.status == RunStatus.FAILED
    search.refresh_from_db()
    assert search.consecutive_failures == 2
    assert [m.to for m in mailoutbox] == [["manager@review.example"]]
    assert "failed 2 times in a row" in mailoutbox[0].body and "Internal Server Error" in mailoutbox[0].body
    # The next run searches from the last success, so the failed runs' records arrive.
    with django_capture_on_commit_callbacks(execute=True):
        recovered = search_run(search=search)
    assert recovered.status == RunStatus.SUCCEEDED and recovered.new == 2
    assert recovered.window_start == today - timedelta(days=2)
    search.refresh_from_db()
    assert search.consecutive_failures == 0
    # The screener's digest: new records to screen (the managers' failure mail came before).
    digest = mailoutbox[-1]
    assert digest.to == ["screener@review.example"] and "2 of them new" in digest.body


def test_a_run_stuck_past_its_timeout_is_failed_and_the_search_is_due_again(team, pubmed, settings):
    search = _search(team)
    stuck = SearchRun.objects.create(search=search, started_at=timezone.now() - timedelta(minutes=90),
                                     window_end=timezone.localdate(), query=search.query)
    assert search.pk not in searches_due()  # running
    assert runs_stuck_fail() == 1
    stuck.refresh_from_db()
    assert stuck.status == RunStatus.FAILED and "60 minutes" in stuck.error
    search.refresh_from_db()
    assert search.consecutive_failures == 1
    assert search.pk in searches_due(now=timezone.now() + timedelta(hours=1, minutes=1))
    pubmed.records = _records(2)
    assert search_run(search=search).status == RunStatus.SUCCEEDED


def test_only_managers_save_or_run_searches(team, pubmed):
    with pytest.raises(PermissionDenied):
        saved_search_save(review=team.review, user=team.screener, database="pubmed", query="stigma")
    search = _search(team)
    with pytest.raises(PermissionDenied):
        search_run(search=search, user=team.screener)
    assert not SearchRun.objects.exists()


def test_a_run_that_finds_nothing_succeeds_with_an_empty_batch(team, pubmed):
    run = search_run(search=_search(team))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.found, run.new, run.duplicates) == (0, 0, 0)
    assert ImportBatch.objects.get(pk=run.batch_id).records.count() == 0
    assert pubmed.of("efetch.fcgi") == []  # nothing to fetch


def test_a_search_queued_twice_by_the_schedule_runs_once(team, pubmed):
    from studies.tasks import search_run_task

    pubmed.records = _records(2)
    search = _search(team)
    first = search_run_task(search.pk)  # Celery's task called in-process: the same code a worker runs
    assert first["new"] == 2 and first["errors"] == []
    assert search_run_task(search.pk) is None  # no longer due
    assert SearchRun.objects.filter(search=search).count() == 1


def test_with_the_shared_rate_limit_unreachable_the_run_fails_clearly_and_asks_nothing(team, pubmed, settings):
    """Without Redis the workers cannot agree on NCBI's limit: no request goes out, nothing is written."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    pubmed.records = _records(2)
    run = search_run(search=_search(team))
    assert run.status == RunStatus.FAILED
    assert "PubMed was not asked" in run.error and "Redis is unavailable" in run.error
    assert pubmed.requests == []
    _nothing_written(team)


# NCBI's E-utilities reference (NBK25499, "ESearch"): esearch's default answer is XML (an
# <eSearchResult> with <Count>, <QueryKey>, <WebEnv>, <IdList>); retmode=json is optional. A mirror
# (or stand-in) that answers only the default must still work.
def test_an_esearch_answer_in_its_default_xml_is_read(team, pubmed):
    pubmed.esearch_xml = True
    pubmed.records = _records(4)
    run = search_run(search=_search(team))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.found, run.new) == (4, 4)
    assert set(Record.objects.filter(review=team.review).values_list("pmid", flat=True)) == {
        r.pmid for r in pubmed.records}


# NBK25499 gives two ways to fetch a search's records: the history server (WebEnv + query_key), or
# the UIDs of esearch's IdList paged with retstart/retmax and passed to efetch's ``id``. Without a
# WebEnv in the answer, the run takes the second way and still stores every record.
@pytest.mark.parametrize("xml", [False, True], ids=["json", "xml"])
def test_without_a_history_server_the_records_are_fetched_by_id_page_by_page(team, pubmed, monkeypatch, xml):
    monkeypatch.setattr(pubmed_connector, "FETCH_BATCH", 3)
    pubmed.history, pubmed.esearch_xml = False, xml
    pubmed.records = _records(7)
    run = search_run(search=_search(team))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.found, run.new) == (7, 7)
    stored = {r.pmid: r for r in Record.objects.filter(review=team.review)}
    assert set(stored) == {r.pmid for r in pubmed.records}
    assert all(stored[r.pmid].doi == r.doi and stored[r.pmid].abstract == r.abstract_text for r in pubmed.records)
    assert [s.params["retstart"] for s in pubmed.of("esearch.fcgi")] == ["0", "3", "6"]
    assert [len(s.params["id"].split(",")) for s in pubmed.of("efetch.fcgi")] == [3, 3, 1]


def test_without_a_history_server_a_page_shorter_than_asked_skips_no_record(team, pubmed):
    # A service may list fewer ids than retmax asked (NBK25499: retmax is a maximum); the next page
    # starts after the ids it listed, not after the ones asked for.
    pubmed.history, pubmed.esearch_cap = False, 2
    pubmed.records = _records(5)
    run = search_run(search=_search(team))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.found, run.new) == (5, 5)
    assert [s.params["retstart"] for s in pubmed.of("esearch.fcgi")] == ["0", "2", "4"]
