"""The schedule end to end, with real processes: Celery beat and worker processes (started with
``PUBMED_EUTILS_URL`` pointing at the E-utilities stand-in), a test-owned Redis, PostgreSQL. Data are
committed (transactional tests), because the worker reads them from its own connections."""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
import pytest

from studies.models import Record, RunStatus, SearchRun
from studies.services.searches import saved_search_activate, saved_search_save
from tests.analysis.conftest import Worker, test_redis, wait_for, worker_env  # noqa: F401 (fixtures)
from tests.studies.searches.test_pubmed import _records

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def search_worker(worker_env, pubmed, tmp_path):  # noqa: F811
    env = {**worker_env, "PUBMED_EUTILS_URL": pubmed.url + "/entrez/eutils", "SEARCH_SCHEDULE_INTERVAL_SECONDS": "1",
           "SEARCH_RATE_KEY_PREFIX": f"test-search-rate-worker-{tmp_path.name}",
           # A stuck run is failed after a minute; a failed search is tried again ~2 s later.
           "SEARCH_RUN_TIMEOUT_MINUTES": "1", "SEARCH_FAILURE_RETRY_HOURS": "0.0006",
           "SEARCH_RETRY_BASE_SECONDS": "0.05", "SEARCH_CONTACT_EMAIL": "schedule@review.example"}
    running = Worker(env, tmp_path / "worker.log")
    running.start()
    yield running
    running.stop()


def test_beat_runs_due_searches_in_their_own_tasks_and_skips_paused_ones(team, pubmed, search_worker):
    pubmed.records = _records(4)
    due = saved_search_save(review=team.review, user=team.manager, database="pubmed", query="stigma",
                            first_date=timezone.localdate() - timedelta(days=365))
    paused = saved_search_save(review=team.review, user=team.manager, database="pubmed", query="peer support")
    saved_search_activate(search=paused, user=team.manager, active=False)
    wait_for(lambda: SearchRun.objects.filter(search=due, status=RunStatus.SUCCEEDED).exists(), 60,
             "the schedule to run the due search")
    run = SearchRun.objects.get(search=due)
    assert (run.found, run.new) == (4, 4) and run.trigger == "schedule"
    assert Record.objects.filter(review=team.review).count() == 4
    # The worker was pointed at the stand-in by PUBMED_EUTILS_URL, and said who it is.
    assert all(seen.params["email"] == "schedule@review.example" for seen in pubmed.requests)
    due.refresh_from_db()
    assert due.next_run_at >= run.started_at + timedelta(days=7)
    assert not SearchRun.objects.filter(search=paused).exists()


def test_a_stuck_run_is_failed_by_the_schedule_and_the_search_retried_later(team, pubmed, search_worker):
    pubmed.records = _records(2)
    search = saved_search_save(review=team.review, user=team.manager, database="pubmed", query="stigma")
    # A run whose worker died two hours ago: it holds the search until the schedule fails it.
    SearchRun.objects.create(search=search, started_at=timezone.now() - timedelta(hours=2),
                             window_end=timezone.localdate(), query=search.query)
    wait_for(lambda: SearchRun.objects.filter(search=search, status=RunStatus.SUCCEEDED).exists(), 60,
             "the stuck run to be failed and the search to run again")
    runs = list(SearchRun.objects.filter(search=search).order_by("started_at"))
    assert [r.status for r in runs] == [RunStatus.FAILED, RunStatus.SUCCEEDED]
    assert "after 1 minute " in runs[0].error and runs[1].new == 2
