"""Celery tasks: take ids, call one service. Idempotent, so at-least-once delivery is safe."""
import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from analysis import services
from analysis.pages.release_capture import snapshot_capture
from analysis.services.releases import releases_due, scheduled_release_cut

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5, default_retry_delay=5)
def recompute_review(self, review_id: int) -> int:
    """Bring one review's analyses up to date (a no-op when they already are)."""
    try:
        return services.review_recompute(review_id)
    except (OperationalError, InterfaceError) as error:
        # The database went away: retry a bounded number of times; after that the reconciler
        # keeps trying, so results are delayed, never wrong.
        raise self.retry(exc=error) from error
    # Any other error is recorded as a failed run of that data version and not retried: the same
    # data would fail the same way. The next edit (a new version) tries again.


@shared_task(acks_late=True)
def reconcile_reviews() -> list[int]:
    """Periodic (Celery beat): ask for a recompute of every review whose results are behind."""
    behind = services.reviews_behind()
    for review_id in behind:
        recompute_review.delay(review_id)
    if behind:
        logger.info("Reconciler queued recomputes for reviews %s", behind)
    return behind


@shared_task(acks_late=True)
def cut_scheduled_releases() -> list[str]:
    """Periodic (Celery beat): cut the releases managers scheduled, where due and the data changed."""
    cut = []
    for review_id in releases_due():
        release = scheduled_release_cut(review_id, snapshot_capture)
        if release is not None:
            cut.append(f"{release.review.slug} {release.version}")
    if cut:
        logger.info("Scheduled releases cut: %s", ", ".join(cut))
    return cut


def recompute_request(review_ids: list[int]) -> None:
    """Ring the doorbell after a commit. If the broker is unreachable the save has already
    succeeded: log it and let the reconciler catch up when the broker is back."""
    for review_id in review_ids:
        try:
            # One quick retry covers a pooled connection that went stale while Redis restarted;
            # more would only make the saving user wait for a broker that is down.
            recompute_review.apply_async(args=[review_id], retry=True,
                                         retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2})
        except Exception:
            logger.warning("Could not queue a recompute of review %s (broker unreachable?); "
                           "the reconciler will pick it up.", review_id, exc_info=True)
