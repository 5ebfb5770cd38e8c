"""Celery tasks of the review database: take ids, call one service. Idempotent."""
from celery import shared_task
from django.db import InterfaceError, OperationalError

from studies.services import prioritisation


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=3, default_retry_delay=5)
def retrain_screener_ranking(self, review_id: int, screener_id: int) -> int | None:
    """Retrain one screener's ranking of a review's title/abstract queue (issue 22)."""
    try:
        ranking = prioritisation.ranking_retrain(review_id=review_id, screener_id=screener_id)
    except (OperationalError, InterfaceError) as error:
        raise self.retry(exc=error) from error
    return ranking.pk if ranking is not None else None
