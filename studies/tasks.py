"""Celery tasks of the review database: the living searches' schedule (issue 21) and each
screener's ranking of the title/abstract queue (issue 22).

Tasks take ids and call one service. Beat asks ``searches_schedule`` every few minutes; it fails runs
stuck past their timeout and queues each due search as a task of its own, so one slow service never
holds up another review's searches.
"""
import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from studies.models import RunTrigger, SavedSearch
from studies.services import prioritisation, searches

logger = logging.getLogger(__name__)


# Longer than any one run may take: the run's own timeout (SEARCH_RUN_TIMEOUT_MINUTES) fails it
# first, so the worker never kills a run that the database still thinks is going.
_RUN_TIME_LIMIT = settings.SEARCH_RUN_TIMEOUT_MINUTES * 60 + 60


@shared_task(acks_late=True, time_limit=_RUN_TIME_LIMIT, soft_time_limit=_RUN_TIME_LIMIT - 30)
def search_run_task(search_id: int, trigger: str = RunTrigger.SCHEDULE, user_id: int | None = None) -> dict | None:
    """Run one saved search (a no-op when it is already running, paused or gone)."""
    search = SavedSearch.objects.select_related("review").filter(pk=search_id).first()
    if search is None:
        return None
    # Beat may queue a search twice while a backlog delays the first task: the second finds it no
    # longer due (its first run moved ``next_run_at`` on) and does nothing.
    if trigger == RunTrigger.SCHEDULE and (not search.active or (
            search.next_run_at is not None and search.next_run_at > timezone.now())):
        return None
    try:
        # A manager's "run now" was checked when they asked; the worker runs it on their behalf.
        run = searches.search_run(search=search, trigger=trigger)
    except searches.SearchAlreadyRunning:
        return None
    if user_id is not None and run.started_by_id is None:
        type(run).objects.filter(pk=run.pk).update(started_by_id=user_id)
    return searches.RunReport.of(run).__dict__


@shared_task(acks_late=True)
def searches_schedule() -> list[int]:
    """Periodic (beat): fail stuck runs, then queue every due search in its own task."""
    stuck = searches.runs_stuck_fail()
    if stuck:
        logger.warning("Failed %s search run(s) stuck past %s minutes", stuck, settings.SEARCH_RUN_TIMEOUT_MINUTES)
    due = searches.searches_due()
    for search_id in due:
        search_run_task.delay(search_id)
    return due


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=3, default_retry_delay=5)
def retrain_screener_ranking(self, review_id: int, screener_id: int) -> int | None:
    """Retrain one screener's ranking of a review's title/abstract queue (issue 22)."""
    try:
        ranking = prioritisation.ranking_retrain(review_id=review_id, screener_id=screener_id)
    except (OperationalError, InterfaceError) as error:
        raise self.retry(exc=error) from error
    return ranking.pk if ranking is not None else None
