"""The risk-of-bias sensitivity analyses computed by the living pipeline: a consensus judgment
changed through the service moves the data version, the recompute stores new restricted results,
and those equal the engine run directly on the restricted studies' rows from the table."""
from django.contrib.auth import get_user_model
import numpy as np
import pytest

from analysis import services
from analysis.engine import ContinuousArms, analyse
from analysis.engine.formatting import format_effect_ci
from analysis.engine.options import Measure
from analysis.models import AnalysisSet, OutcomeResult, ReviewAnalysisState
from studies.models import Arm, ArmRole, OutcomeData, Review, Role, Study
from studies.rob2 import HIGH, LOW, SOME_CONCERNS
from studies.services import entity_save, membership_add
from studies.services.risk_of_bias import (
    Rob1Entry,
    rob1_assessment_save,
    rob1_consensus_save,
    rob2_assessment_save,
    rob2_consensus_save,
)

from rob_entries import ALL_LOW, HIGH_D2, SOME_D1, entry

pytestmark = pytest.mark.django_db

ARMS = [  # (label, year, (n, mean, sd) intervention, control)
    ("Early 2011", 2011, (40, -4.0, 6.0), (41, -1.0, 5.5)),
    ("Middle 2015", 2015, (55, -2.5, 5.0), (52, -1.5, 5.2)),
    ("Late 2019", 2019, (30, -6.0, 7.0), (33, 0.5, 6.5)),
    ("Latest 2021", 2021, (70, -1.0, 6.1), (69, -0.8, 6.0)),
]


@pytest.fixture
def four(small):
    """The small review with four more studies of the same outcome, and two assessors."""
    review, outcome = small.review, small.outcome
    small.study.is_included = False  # the fixture's own study stays out of the way
    entity_save(instance=small.study)
    studies = {}
    for label, year, treated, control in ARMS:
        study = entity_save(instance=Study(review=review, label=label, year=year))
        for role, (n, mean, sd) in ((ArmRole.INTERVENTION, treated), (ArmRole.CONTROL, control)):
            arm = entity_save(instance=Arm(study=study, role=role, label=role, randomised=n))
            entity_save(instance=OutcomeData(study=study, outcome=outcome, time_point=small.time_point, arm=arm,
                                             n=n, mean=mean, sd=sd))
        studies[label] = study
    users = get_user_model().objects
    assessors = [users.create_user(f"rob-sens-{i}", password="a-long-test-password") for i in (1, 2)]
    for user in assessors:
        membership_add(review=review, user=user, role=Role.ASSESSOR)
    return small, studies, assessors


def consensus(small, study, assessors, answers):
    for user in assessors:
        if not study.rob2_assessments.filter(assessor=user, is_consensus=False).exists():
            rob2_assessment_save(study=study, outcome=small.outcome, assessor=user, entry=entry(answers), submit=True)
    return rob2_consensus_save(study=study, outcome=small.outcome, recorded_by=assessors[0], entry=entry(answers))


def current(review, analysis_set) -> OutcomeResult | None:
    state = ReviewAnalysisState.objects.get(review=review)
    return OutcomeResult.objects.filter(run=state.current_run, subgroup_field=None, analysis_set=analysis_set).first()


def engine_on(review, outcome, labels):
    """The engine on the named studies' arm rows, read straight from the table."""
    rows = {}
    for data in OutcomeData.objects.filter(outcome=outcome, study__label__in=labels).select_related("arm", "study"):
        rows.setdefault(data.study.label, {})[data.arm.role] = data
    ordered = [rows[label] for label in labels]
    arms = ContinuousArms(
        n1=[r["intervention"].n for r in ordered], mean1=[r["intervention"].mean for r in ordered],
        sd1=[r["intervention"].sd for r in ordered], n2=[r["control"].n for r in ordered],
        mean2=[r["control"].mean for r in ordered], sd2=[r["control"].sd for r in ordered])
    result = analyse(arms, options=services.analysis_options(review, outcome.effect_measure), direction=outcome.direction)
    return result.overall.fixed if result.chosen_model.value == "fixed" else result.overall.random


def assert_equal_to_engine(stored: OutcomeResult, review, outcome, labels):
    expected = engine_on(review, outcome, labels)
    assert stored.k == len(labels)
    assert [s["study"] for s in stored.payload["studies"]] == labels
    np.testing.assert_allclose([stored.estimate, stored.ci_low, stored.ci_high, stored.p_value],
                               [expected.estimate, expected.ci_low, expected.ci_high, expected.p], rtol=1e-12)


def test_rob2_sensitivity_follows_a_changed_consensus_judgment(four):
    small, studies, assessors = four
    review = Review.objects.get(pk=small.review.pk)
    review.rob_tool = "ROB2"
    entity_save(instance=review)
    consensus(small, studies["Early 2011"], assessors, ALL_LOW)
    consensus(small, studies["Middle 2015"], assessors, SOME_D1)
    consensus(small, studies["Late 2019"], assessors, HIGH_D2)
    # "Latest 2021" has no consensus: it is in neither restricted set.
    services.review_recompute(review.pk)
    main = current(review, AnalysisSet.MAIN)
    assert main.k == 4
    assert_equal_to_engine(current(review, AnalysisSet.ROB_LOW), review, small.outcome, ["Early 2011"])
    excluding_high = current(review, AnalysisSet.ROB_EXCLUDE_HIGH)
    assert_equal_to_engine(excluding_high, review, small.outcome, ["Early 2011", "Middle 2015"])
    assert excluding_high.payload["risk_of_bias_set"]["left_out"] == {"Late 2019": HIGH, "Latest 2021": "not_assessed"}
    # The forest plot's column: each assessed study's domain judgments and overall.
    column = main.payload["risk_of_bias"]
    assert column["tool"] == "ROB2" and [d[0] for d in column["domains"]] == ["D1", "D2", "D3", "D4", "D5"]
    assert column["studies"]["Late 2019"] == {"domains": [LOW, HIGH, LOW, LOW, SOME_CONCERNS], "overall": HIGH}
    assert "Latest 2021" not in column["studies"]
    before = Review.objects.get(pk=review.pk).data_version
    low_before = current(review, AnalysisSet.ROB_LOW)

    # The consensus for Late 2019 is revised to low risk: through the service, like the page does.
    consensus(small, studies["Late 2019"], assessors, ALL_LOW)
    assert Review.objects.get(pk=review.pk).data_version == before + 1
    assert services.review_is_behind(review.pk)
    services.review_recompute(review.pk)
    low_after = current(review, AnalysisSet.ROB_LOW)
    assert low_after.pk != low_before.pk
    assert_equal_to_engine(low_after, review, small.outcome, ["Early 2011", "Late 2019"])
    assert low_after.estimate != pytest.approx(low_before.estimate)
    assert_equal_to_engine(current(review, AnalysisSet.ROB_EXCLUDE_HIGH), review, small.outcome,
                           ["Early 2011", "Middle 2015", "Late 2019"])
    # The main analysis does not depend on risk of bias.
    assert current(review, AnalysisSet.MAIN).estimate == pytest.approx(main.estimate, rel=1e-12)


def test_rob1_sensitivity_uses_the_key_domains(four):
    small, studies, assessors = four
    review = Review.objects.get(pk=small.review.pk)
    judgments = {"random_sequence": "low", "allocation_concealment": "low", "blinding_participants": "high",
                 "blinding_outcome": "low", "incomplete_data": "low", "selective_reporting": "low", "other": "low"}
    plans = {"Early 2011": judgments, "Middle 2015": {**judgments, "allocation_concealment": "unclear"},
             "Late 2019": {**judgments, "incomplete_data": "high"}, "Latest 2021": judgments}
    for label, values in plans.items():
        for user in assessors:
            rob1_assessment_save(study=studies[label], assessor=user, entry=Rob1Entry(values, {}), submit=True)
        rob1_consensus_save(study=studies[label], recorded_by=assessors[1], entry=Rob1Entry(values, {}))
    services.review_recompute(review.pk)
    # Blinding of participants (high everywhere) is not a key domain by default.
    assert_equal_to_engine(current(review, AnalysisSet.ROB_LOW), review, small.outcome, ["Early 2011", "Latest 2021"])
    assert_equal_to_engine(current(review, AnalysisSet.ROB_EXCLUDE_HIGH), review, small.outcome,
                           ["Early 2011", "Middle 2015", "Latest 2021"])
    # Making it a key domain is an analysis setting: the version moves and no study is at low risk.
    review.rob1_key_domains = [*review.rob1_key_domains, "blinding_participants"]
    entity_save(instance=review)
    assert services.review_is_behind(review.pk)
    services.review_recompute(review.pk)
    assert current(review, AnalysisSet.ROB_LOW) is None
    assert current(review, AnalysisSet.ROB_EXCLUDE_HIGH) is None
    assert current(review, AnalysisSet.MAIN).k == 4


def test_no_consensus_no_sensitivity_results(small):
    services.review_recompute(small.review.pk)
    state = ReviewAnalysisState.objects.get(review=small.review)
    assert set(OutcomeResult.objects.filter(run=state.current_run).values_list("analysis_set", flat=True)) == {"main"}


def test_pages_show_the_sensitivity_results_and_figures(client, four):
    small, studies, assessors = four
    review = Review.objects.get(pk=small.review.pk)
    review.rob_tool = "ROB2"
    review.is_public = True
    entity_save(instance=review)
    consensus(small, studies["Early 2011"], assessors, ALL_LOW)
    consensus(small, studies["Late 2019"], assessors, HIGH_D2)
    services.review_recompute(review.pk)
    low = current(review, AnalysisSet.ROB_LOW)
    html = client.get(f"/reviews/{review.slug}/outcomes/{small.outcome.pk}/").content.decode()
    assert "Only studies at low risk of bias" in html
    assert format_effect_ci(low.estimate, low.ci_low, low.ci_high, Measure("SMD")) in html
    assert "Middle 2015 (not assessed), Late 2019 (high risk), Latest 2021 (not assessed)" in html
    assert 'class="figure rob-traffic-light"' in html and 'class="figure rob-summary"' in html
    page = client.get(f"/reviews/{review.slug}/").content.decode()
    assert 'data-study="Late 2019 · Self-stigma"' in page
    assert format_effect_ci(low.estimate, low.ci_low, low.ci_high, Measure("SMD")) + "; 1 study" in page
    for path in ("risk-of-bias/traffic-light.svg", "risk-of-bias/summary.svg",
                 f"outcomes/{small.outcome.pk}/rob-summary-weighted.svg"):
        response = client.get(f"/reviews/{review.slug}/{path}")
        assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert client.get(f"/reviews/{review.slug}/risk-of-bias/other.svg").status_code == 404
