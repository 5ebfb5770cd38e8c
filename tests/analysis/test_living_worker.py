"""The living pipeline end to end, with real processes: a test-owned Redis on its own port, real
Celery worker processes (with beat, for the reconciler) and PostgreSQL. Each test's data are
committed (transactional tests), because the worker reads them from its own connections."""
from __future__ import annotations

import threading
import time

from django.db import connection
from django.utils import timezone
import numpy as np
import psutil
import psycopg
import pytest

from analysis import services
from analysis.services import recompute
from analysis.models import AnalysisRun, OutcomeResult, ReviewAnalysisState, RunStatus
from reviewsite.celery import app as celery_app
from studies.models import Arm, ArmRole, OutcomeData, Review, Study
from studies.services import entity_save
from tests.analysis.conftest import Worker, wait_for, wait_worker_idle  # the stack's fixtures live in conftest.py

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def up_to_date(review: Review) -> bool:
    return not services.review_is_behind(review.pk)


def assert_results_equal_from_scratch(review: Review) -> None:
    """The stored current results equal a fresh computation from the database as it is now."""
    state = ReviewAnalysisState.objects.get(review=review)
    assert state.computed_version == Review.objects.get(pk=review.pk).data_version
    stored = {(r.outcome_id, r.subgroup_field_id, r.analysis_set): r for r in OutcomeResult.objects.filter(run=state.current_run)}
    fresh = services.review_results_compute(services.analysis_inputs_load(review.pk))
    assert len(fresh) == len(stored)
    for result in fresh:
        row = stored[(result.outcome_id, result.subgroup_field_id, result.analysis_set)]
        expected = result.payload[result.payload["chosen_model"]]
        np.testing.assert_allclose([row.estimate, row.ci_low, row.ci_high], [
            expected["estimate"], expected["ci_low"], expected["ci_high"]], rtol=1e-12)


def wait_converged(review: Review, timeout: float = 60) -> None:
    wait_for(lambda: up_to_date(review), timeout, "the results to catch up with the data")
    assert_results_equal_from_scratch(review)


def test_every_write_path_leads_to_new_results(worker, small, client):
    manager = small.manager
    client.force_login(manager)
    wait_converged(small.review, 30)

    sof_before = client.get(f"/api/reviews/{small.review.slug}/summary-of-findings/").json()[0]

    # A service call.
    small.data.mean = -6.0
    entity_save(instance=small.data)
    wait_converged(small.review)
    # The GRADE summary of findings is computed in the same run: it moved with the estimate.
    sof_after = client.get(f"/api/reviews/{small.review.slug}/summary-of-findings/").json()[0]
    main = next(r for r in client.get(f"/api/reviews/{small.review.slug}/analysis/").json()["results"]
                if r["analysis_set"] == "main" and r["subgroup_variable"] is None)
    assert sof_after["estimate"] == main["estimate"] != sof_before["estimate"]

    # The admin's change form.
    row = OutcomeData.objects.get(pk=small.data.pk)
    response = client.post(f"/admin/studies/outcomedata/{row.pk}/change/", {
        "study": row.study_id, "outcome": row.outcome_id, "time_point": row.time_point_id, "arm": row.arm_id,
        "n": "38", "mean": "-2.5", "sd": "6.1", "value_type": "change", "provenance": "reported",
        "include_in_analysis": "on",
    })
    assert response.status_code == 302
    wait_converged(small.review)
    assert OutcomeResult.objects.filter(run=ReviewAnalysisState.objects.get(review=small.review).current_run)\
        .get(subgroup_field=None, analysis_set="main").payload["arms"][0]["intervention"]["mean"] == -2.5

    # An admin inline: a second study's arms, added under the study.
    study = entity_save(instance=Study(review=small.review, label="Second 2022", year=2022))
    response = client.post(f"/admin/studies/study/{study.pk}/change/", {
        "review": small.review.pk, "label": study.label, "year": "2022", "is_included": "on", "notes": "",
        "reports-TOTAL_FORMS": "0", "reports-INITIAL_FORMS": "0",
        "arms-TOTAL_FORMS": "2", "arms-INITIAL_FORMS": "0",
        "arms-0-role": ArmRole.INTERVENTION, "arms-0-label": "Peer group", "arms-0-randomised": "30",
        "arms-1-role": ArmRole.CONTROL, "arms-1-label": "Usual care", "arms-1-randomised": "30",
        "characteristics-TOTAL_FORMS": "0", "characteristics-INITIAL_FORMS": "0",
        "outcome_data-TOTAL_FORMS": "0", "outcome_data-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.content[:2000]
    for role, mean in ((ArmRole.INTERVENTION, -3.0), (ArmRole.CONTROL, -0.5)):
        entity_save(instance=OutcomeData(study=study, outcome=small.outcome, time_point=small.time_point,
                                         arm=Arm.objects.get(study=study, role=role), n=30, mean=mean, sd=5.0))
    wait_converged(small.review)
    assert OutcomeResult.objects.filter(run=ReviewAnalysisState.objects.get(review=small.review).current_run)\
        .get(subgroup_field=None, analysis_set="main").k == 2

    # The admin's bulk delete action.
    response = client.post("/admin/studies/arm/", {
        "action": "delete_selected", "post": "yes",
        "_selected_action": [str(pk) for pk in Arm.objects.filter(study=study).values_list("pk", flat=True)],
    })
    assert response.status_code == 302
    wait_converged(small.review)
    assert OutcomeResult.objects.filter(run=ReviewAnalysisState.objects.get(review=small.review).current_run)\
        .get(subgroup_field=None, analysis_set="main").k == 1


def test_a_killed_worker_only_delays_results(worker, small):
    wait_converged(small.review, 30)
    # Hold the review's analysis-state row from another connection: the worker's recompute then
    # stops inside its store step, holding the review's lock — the middle of a recompute.
    db = connection.settings_dict
    blocker = psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or None, user=db["USER"],
                              dbname=db["NAME"])
    blocker.execute("SELECT 1 FROM analysis_reviewanalysisstate WHERE review_id = %s FOR UPDATE", [small.review.pk])
    try:
        small.data.mean = -8.0
        entity_save(instance=small.data)

        def recompute_in_progress() -> bool:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s "
                               "AND objid = %s AND granted", [recompute._LOCK_NAMESPACE, small.review.pk])
                return cursor.fetchone()[0] > 0

        wait_for(recompute_in_progress, 30, "a recompute to start")
        worker.kill()
    finally:
        # A backend waiting on a lock notices its dead client only when the wait ends.
        blocker.rollback()
        blocker.close()
    wait_for(lambda: not recompute_in_progress(), 30, "PostgreSQL to release the dead worker's lock")
    assert services.review_is_behind(small.review.pk)
    worker.start()
    wait_converged(small.review)
    assert OutcomeResult.objects.filter(run=ReviewAnalysisState.objects.get(review=small.review).current_run)\
        .get(subgroup_field=None, analysis_set="main").payload["arms"][0]["intervention"]["mean"] == -8.0


def test_saves_succeed_while_redis_is_down_and_results_catch_up(worker, small, test_redis):
    wait_converged(small.review, 30)
    wait_worker_idle(test_redis.url)  # a task already in the worker's hands would compute the edit
    test_redis.stop()
    small.data.mean = -3.3
    started = time.monotonic()
    entity_save(instance=small.data)  # must not raise: the broker is only a doorbell
    assert time.monotonic() - started < 10
    assert OutcomeData.objects.get(pk=small.data.pk).mean == -3.3
    assert services.review_is_behind(small.review.pk)
    time.sleep(1)
    assert services.review_is_behind(small.review.pk)  # nothing could compute it yet
    test_redis.start()
    wait_converged(small.review, 60)


def test_the_same_task_delivered_twice_at_once_writes_one_result(small):
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def deliver() -> None:
        try:
            barrier.wait()
            outcomes.append(services.analysis_run_execute(small.review.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    version = Review.objects.get(pk=small.review.pk).data_version
    assert sum(result is not None for result in outcomes) == 1
    assert AnalysisRun.objects.filter(review=small.review, data_version=version, status=RunStatus.SUCCEEDED).count() == 1
    assert OutcomeResult.objects.filter(run__review=small.review).count() == 1


# Edits in the burst: enough for many coalescing windows (each save takes a few tens of ms, with its
# value checks), few enough to keep the test short.
BURST = 150


def test_a_burst_of_edits_is_coalesced_and_ends_correct(worker, small):
    wait_converged(small.review, 30)
    since = timezone.now()
    started = time.monotonic()
    for i in range(BURST):
        small.data.mean = -4.0 - (i % 50) / 10
        entity_save(instance=small.data)
    elapsed = time.monotonic() - started
    wait_converged(small.review)
    runs = AnalysisRun.objects.filter(review=small.review, status=RunStatus.SUCCEEDED, started_at__gte=since).count()
    # At most one run per coalescing window while the burst lasts, plus the one after it.
    assert 1 <= runs <= elapsed / 0.3 + 2, (runs, elapsed)
    assert runs < BURST / 3
    assert OutcomeData.objects.get(pk=small.data.pk).mean == pytest.approx(-4.0 - 49 / 10)


def test_worker_processes_are_real(worker):
    """Guard against a test set-up in which tasks run eagerly inside the test process."""
    assert not celery_app.conf.task_always_eager
    wait_for(lambda: worker.process is not None and len(psutil.Process(worker.process.pid).children()) >= 2,
             30, "the worker's pool processes")


def test_the_doorbell_alone_brings_results_within_seconds(worker_env, tmp_path, small):
    """With the reconciler an hour away, only the message sent after commit can bring results."""
    env = {**worker_env, "RECONCILE_INTERVAL_SECONDS": "3600"}
    running = Worker(env, tmp_path / "doorbell-worker.log")
    running.start()
    try:
        small.data.mean = -2.0
        entity_save(instance=small.data)
        wait_converged(small.review, 20)
    finally:
        running.stop()
