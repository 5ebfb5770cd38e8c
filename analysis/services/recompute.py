"""Step 4 of the living analysis: the loop a Celery task runs when the doorbell rings — single flight
per review (an advisory lock), coalescing bursts of edits, until the results catch up with the data."""
from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import connection
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from analysis.models import AnalysisRun, ReviewAnalysisState, RunStatus
from analysis.services.compute import review_results_compute
from analysis.services.inputs import analysis_inputs_load
from analysis.services.store import run_store
from studies.models import Review

logger = logging.getLogger(__name__)

# A recompute that keeps finding newer data gives up after this many rounds; the reconciler
# (Celery beat) picks the review up again, so nothing is lost, and a worker is never held forever.
MAX_ROUNDS = 20


# --- The recompute loop -----------------------------------------------------------------------


def analysis_run_execute(review_id: int) -> AnalysisRun | None:
    """Compute every analysis of a review once and store it if still current."""
    started_at = timezone.now()
    inputs = analysis_inputs_load(review_id)
    try:
        computed = review_results_compute(inputs)
    except Exception as error:
        AnalysisRun.objects.create(review_id=review_id, data_version=inputs.data_version, status=RunStatus.FAILED,
                                   started_at=started_at, finished_at=timezone.now(), error=repr(error))
        raise
    time_point_id = inputs.time_point.pk if inputs.time_point is not None else None
    return run_store(review_id, inputs.data_version, time_point_id, started_at, computed)


def review_is_behind(review_id: int) -> bool:
    """True when the review's results are older than its data."""
    state = ReviewAnalysisState.objects.filter(review_id=review_id).values_list("computed_version", flat=True).first()
    version = Review.objects.filter(pk=review_id).values_list("data_version", flat=True).first()
    return version is not None and (state or 0) < version


_LOCK_NAMESPACE = 7_311_001  # first key of PostgreSQL's two-key advisory locks: "recompute"


def _wait_for_quiet(review_id: int, deadline: float) -> None:
    """Wait until ``deadline`` (monotonic), or less: as soon as the review's data have not changed
    for ``ANALYSIS_COALESCE_SECONDS``, so the run after a burst starts when the burst ends."""
    quiet_needed = settings.ANALYSIS_COALESCE_SECONDS
    seen, quiet_since = None, time.monotonic()
    while (now := time.monotonic()) < deadline:
        version = Review.objects.filter(pk=review_id).values_list("data_version", flat=True).first()
        if version != seen:
            seen, quiet_since = version, now
        elif now - quiet_since >= quiet_needed:
            return
        time.sleep(min(0.1, max(0.0, deadline - now)))


def _wait_after_last_run(review_id: int) -> None:
    """A quiet period is ``ANALYSIS_COALESCE_SECONDS`` without a run: when the last run started less
    than that ago (an earlier task caught up between two edits of a burst), wait out the rest of
    its window, or less if the edits pause. Without it, edits that come a little slower than a run
    takes would each start a run of their own."""
    last = AnalysisRun.objects.filter(review_id=review_id).values_list("started_at", flat=True).first()
    if last is None:
        return
    left = settings.ANALYSIS_COALESCE_SECONDS - (timezone.now() - last).total_seconds()
    if left > 0:
        _wait_for_quiet(review_id, time.monotonic() + left)


def review_recompute(review_id: int) -> int:
    """Bring a review's results up to date; returns how many runs stored results.

    Single flight per review: a PostgreSQL advisory lock (released by the server if the worker
    dies) lets one worker compute while others return at once. The holder loops while the data
    keep moving, so edits made during a run cause exactly one more run; after releasing the lock
    it checks once more, closing the gap in which another worker gave up on the lock. The first
    change after a quiet period is computed at once; while edits keep arriving, rounds start
    ``ANALYSIS_COALESCE_SECONDS`` apart, then twice that, and so on up to
    ``ANALYSIS_COALESCE_MAX_SECONDS`` — but a round starts early once the edits pause for
    ``ANALYSIS_COALESCE_SECONDS``.
    """
    stored = rounds = 0
    last_start = time.monotonic()
    while rounds < MAX_ROUNDS:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, review_id])
            if not cursor.fetchone()[0]:
                return stored
        try:
            if not rounds and review_is_behind(review_id):
                _wait_after_last_run(review_id)
            while rounds < MAX_ROUNDS and review_is_behind(review_id):
                if rounds:
                    # Data changed during the last run: wait out the rest of the coalescing window,
                    # which doubles while the edits keep coming, so a burst costs a few runs.
                    window = min(settings.ANALYSIS_COALESCE_MAX_SECONDS,
                                 settings.ANALYSIS_COALESCE_SECONDS * 2 ** (rounds - 1))
                    _wait_for_quiet(review_id, last_start + window)
                rounds += 1
                last_start = time.monotonic()
                if analysis_run_execute(review_id) is not None:
                    stored += 1
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, review_id])
        if not review_is_behind(review_id):
            return stored
        rounds += 1
    logger.warning("Review %s kept changing during %d recompute rounds; the reconciler will continue.",
                   review_id, MAX_ROUNDS)
    return stored


def reviews_behind() -> list[int]:
    """Ids of reviews whose results are older than their data (for the reconciler); a review whose
    current data version already failed to compute is left until its data change."""
    failed_now = AnalysisRun.objects.filter(review=OuterRef("pk"), data_version=OuterRef("data_version"),
                                            status=RunStatus.FAILED)
    return list(
        Review.objects.filter(Q(analysis_state__isnull=True) | Q(analysis_state__computed_version__lt=F("data_version")))
        .exclude(Exists(failed_now)).order_by("pk").values_list("pk", flat=True)
    )
