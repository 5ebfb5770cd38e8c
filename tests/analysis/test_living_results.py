"""The living pipeline without a worker: what it computes, how it stores (compare-and-set), what it
reports as a change of conclusion, and what the status API says."""
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
import numpy as np

from analysis import services
from analysis.engine import AnalysisOptions, ContinuousArms, analyse
from analysis.models import AnalysisRun, ChangeKind, ConclusionChange, OutcomeResult, ReviewAnalysisState, RunStatus
from studies.models import ArmRole, CharacteristicField, OutcomeData, Review
from studies.services import entity_save


def current(review: Review) -> dict[str, OutcomeResult]:
    state = ReviewAnalysisState.objects.get(review=review)
    return {r.outcome.name: r for r in OutcomeResult.objects.filter(run=state.current_run, subgroup_field=None,
                                                                analysis_set="main")
            .select_related("outcome")}


def test_stored_results_equal_the_engine_on_the_raw_rows(demo_review):
    """Pooled results equal an independent engine call on the arm rows read straight from the table."""
    services.review_recompute(demo_review.pk)
    results = current(demo_review)
    assert len(results) == 12
    for name, result in results.items():
        rows = OutcomeData.objects.filter(outcome__name=name, study__review=demo_review).order_by("study__year", "study__label")
        by_study: dict[int, dict[str, OutcomeData]] = {}
        for row in rows.select_related("arm"):
            by_study.setdefault(row.study_id, {})[row.arm.role] = row
        pairs = [(s[ArmRole.INTERVENTION], s[ArmRole.CONTROL]) for s in by_study.values()]
        arms = ContinuousArms(
            n1=[i.n for i, _ in pairs], mean1=[i.mean for i, _ in pairs], sd1=[i.sd for i, _ in pairs],
            n2=[c.n for _, c in pairs], mean2=[c.mean for _, c in pairs], sd2=[c.sd for _, c in pairs],
        )
        expected = analyse(arms, options=AnalysisOptions(measure="SMD", model_rule="auto", i2_threshold=50))
        chosen = expected.overall.fixed if expected.chosen_model.value == "fixed" else expected.overall.random
        assert result.k == len(pairs)
        assert result.chosen_model == expected.chosen_model.value
        np.testing.assert_allclose(
            [result.estimate, result.ci_low, result.ci_high, result.p_value],
            [chosen.estimate, chosen.ci_low, chosen.ci_high, chosen.p], rtol=1e-12,
        )
        # Each study row of the payload carries that study's own arm data, as stored in the table.
        stored = [(OutcomeData.objects.get(pk=i.pk).study.label, i.n, i.mean, i.sd, c.n, c.mean, c.sd)
                  for i, c in pairs]
        shown = [(a["study"], a["intervention"]["n"], a["intervention"]["mean"], a["intervention"]["sd"],
                  a["control"]["n"], a["control"]["mean"], a["control"]["sd"]) for a in result.payload["arms"]]
        assert shown == stored
        assert [s["study"] for s in result.payload["studies"]] == [row[0] for row in stored]


def test_subgroup_results_follow_the_subgroup_variable(demo_review):
    services.review_recompute(demo_review.pk)
    state = ReviewAnalysisState.objects.get(review=demo_review)
    split = OutcomeResult.objects.get(run=state.current_run, outcome__name="Self-stigma", subgroup_field__isnull=False)
    names = {s["name"]: s["fixed"]["k"] for s in split.payload["subgroups"]}
    assert names == {"HOP": 5, "non-HOP": 2}
    assert split.payload["subgroup_test"]["fixed"]["df"] == 1


def test_inputs_load_in_a_constant_number_of_queries(small, demo_review):
    entity_save(instance=CharacteristicField(review=small.review, name="Intervention type", data_type="choice",
                                             choices=["HOP", "non-HOP"], is_subgroup_variable=True))
    with CaptureQueriesContext(connection) as few:
        services.analysis_inputs_load(small.review.pk)
    with CaptureQueriesContext(connection) as many:
        services.analysis_inputs_load(demo_review.pk)
    assert len(many) == len(few) <= 10


def test_results_computed_from_an_old_version_are_thrown_away(small):
    inputs = services.analysis_inputs_load(small.review.pk)
    computed = services.review_results_compute(inputs)
    small.data.mean = -9.0
    entity_save(instance=small.data)  # the data move on while the old computation is in flight
    stored = services.run_store(small.review.pk, inputs.data_version, inputs.time_point.pk, inputs.review.created_at,
                              computed)
    assert stored is None
    assert not AnalysisRun.objects.filter(review=small.review, status=RunStatus.SUCCEEDED).exists()
    assert services.review_is_behind(small.review.pk)
    assert services.review_recompute(small.review.pk) == 1
    assert not services.review_is_behind(small.review.pk)
    assert AnalysisRun.objects.filter(review=small.review, status=RunStatus.SUPERSEDED).count() == 1


def test_the_same_version_is_stored_once(small):
    inputs = services.analysis_inputs_load(small.review.pk)
    computed = services.review_results_compute(inputs)
    first = services.run_store(small.review.pk, inputs.data_version, inputs.time_point.pk, inputs.review.created_at, computed)
    second = services.run_store(small.review.pk, inputs.data_version, inputs.time_point.pk, inputs.review.created_at, computed)
    assert first is not None and second is None
    assert OutcomeResult.objects.filter(run__review=small.review).count() == 1


def test_a_flip_of_significance_is_recorded_and_mailed_to_managers(small, django_capture_on_commit_callbacks):
    small.manager.email = "manager@example.org"
    small.manager.save()
    services.review_recompute(small.review.pk)  # baseline: SMD clearly below 0, P < 0.05
    baseline = current(small.review)["Self-stigma"]
    assert baseline.p_value < 0.05 and baseline.estimate < 0
    small.data.mean = 1.5  # the intervention arm now does worse than control
    entity_save(instance=small.data)
    with django_capture_on_commit_callbacks(execute=True):
        services.review_recompute(small.review.pk)
    kinds = set(ConclusionChange.objects.filter(review=small.review).values_list("kind", flat=True))
    assert {ChangeKind.LOST_SIGNIFICANCE, ChangeKind.DIRECTION_CHANGED} <= kinds
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["manager@example.org"]
    assert "Self-stigma" in mail.outbox[0].body


def test_i2_bands():
    assert [services.i2_band(v) for v in (0, 34.9, 35, 60, 82.5, 100)] == [
        "might not be important", "might not be important", "moderate", "substantial", "considerable", "considerable",
    ]


def test_reconciler_lists_reviews_that_are_behind(small):
    assert small.review.pk in services.reviews_behind()
    services.review_recompute(small.review.pk)
    assert small.review.pk not in services.reviews_behind()


def test_status_api_reports_versions_and_staleness(client, small):
    small.review.is_public = True
    entity_save(instance=small.review)
    body = client.get(f"/api/reviews/{small.review.slug}/analysis/version/").json()
    assert body["stale"] is True and body["computed_version"] == 0
    services.review_recompute(small.review.pk)
    body = client.get(f"/api/reviews/{small.review.slug}/analysis/").json()
    review = Review.objects.get(pk=small.review.pk)
    assert body["stale"] is False and body["computed_version"] == review.data_version
    assert [r["outcome"] for r in body["results"]] == ["Self-stigma"]
    assert body["results"][0]["detail"]["studies"][0]["study"] == "Only 2020"


def test_unpublished_reviews_are_not_found_by_strangers(client, small):
    assert client.get(f"/api/reviews/{small.review.slug}/analysis/").status_code == 404
    client.force_login(small.manager)
    assert client.get(f"/api/reviews/{small.review.slug}/analysis/version/").status_code == 200


def test_conclusion_change_feed_lists_the_newest_first(client, small):
    small.review.is_public = True
    entity_save(instance=small.review)
    services.review_recompute(small.review.pk)
    small.data.mean = 1.5
    entity_save(instance=small.data)
    services.review_recompute(small.review.pk)
    feed = client.get(f"/api/reviews/{small.review.slug}/analysis/changes/").json()
    assert {item["kind"] for item in feed} >= {"lost_significance", "direction_changed"}
    assert all(item["outcome"] == "Self-stigma" for item in feed)


def test_managers_see_runs_and_changes_read_only_in_the_back_office(client, demo_review):
    from django.contrib.auth import get_user_model

    services.review_recompute(demo_review.pk)
    client.force_login(get_user_model().objects.get(username="demo-manager"))
    run = AnalysisRun.objects.filter(review=demo_review).first()
    assert client.get("/admin/analysis/analysisrun/").status_code == 200
    assert client.get(f"/admin/analysis/analysisrun/{run.pk}/change/").status_code == 200
    assert client.get("/admin/analysis/conclusionchange/").status_code == 200
    assert client.get("/admin/analysis/analysisrun/add/").status_code == 403


def test_history_keeps_every_run_headline_and_the_current_payload(small):
    services.review_recompute(small.review.pk)
    first_run = ReviewAnalysisState.objects.get(review=small.review).current_run
    small.data.mean = -5.5
    entity_save(instance=small.data)
    services.review_recompute(small.review.pk)
    old = OutcomeResult.objects.get(run=first_run)
    new = current(small.review)["Self-stigma"]
    assert old.payload is None and old.estimate is not None  # history: the estimate of every run
    assert new.payload is not None and new.estimate != old.estimate


def test_a_study_moved_to_another_review_moves_both_reviews_results(small, demo_review):
    services.review_recompute(small.review.pk)
    demo_before, small_before = demo_review.data_version, Review.objects.get(pk=small.review.pk).data_version
    moved = demo_review.studies.order_by("pk").first()
    moved.review = small.review
    moved.label = "Moved 2013"
    entity_save(instance=moved)
    assert Review.objects.get(pk=demo_review.pk).data_version > demo_before
    assert Review.objects.get(pk=small.review.pk).data_version > small_before


def test_a_version_that_failed_is_not_requeued_until_the_data_change(small):
    from django.utils import timezone

    version = Review.objects.get(pk=small.review.pk).data_version
    AnalysisRun.objects.create(review=small.review, data_version=version, status=RunStatus.FAILED,
                               started_at=timezone.now(), finished_at=timezone.now(), error="ValueError('synthetic')")
    assert small.review.pk not in services.reviews_behind()
    small.data.mean = -1.0
    entity_save(instance=small.data)
    assert small.review.pk in services.reviews_behind()


def test_a_switch_to_one_study_names_no_i2():
    """Down to one study, I² is not applicable (None): the model-switch note says so instead of failing."""
    before = OutcomeResult(k=3, chosen_model="random", estimate=0.4, p_value=0.01, i2=62.0)
    after = OutcomeResult(k=1, chosen_model="fixed", estimate=0.3, p_value=0.02, i2=None)
    changes = dict(services.conclusion_changes_detect(before, after, 0.05))
    assert changes[ChangeKind.MODEL_SWITCHED] == (
        "The fixed-effect model is now reported (one study: heterogeneity not applicable).")
    assert ChangeKind.HETEROGENEITY_BAND not in changes
