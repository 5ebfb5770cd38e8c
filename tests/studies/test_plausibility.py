"""Plausibility at entry (issue 20, item 1): impossible outcome values refused at every door, with the
field and the value named; implausible ones held "awaiting check", out of the published analysis,
until a second team member confirms or corrects them."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from rest_framework.test import APIClient

from analysis.services import analysis_inputs_load, review_results_compute
from studies.models import (
    Arm,
    ArmRole,
    CheckState,
    DataType,
    EffectMeasure,
    Outcome,
    OutcomeData,
    Review,
    Role,
    Study,
    StudyEstimate,
)
from studies.models.audit import EVENT_MODELS
from studies.services import entity_save, membership_add
from studies.services.value_checks import (
    outcome_value_confirm,
    outcome_value_correct,
    study_estimate_confirm,
    study_estimate_correct,
)

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"


@dataclass
class Team:
    first: object  # extractor who enters
    second: object  # another extractor
    screener: object


@pytest.fixture
def team(small) -> Team:
    users = get_user_model().objects
    first, second, screener = (users.create_user(name, password=PASSWORD)
                               for name in ("extractor-one", "extractor-two", "screener-only"))
    membership_add(review=small.review, user=first, role=Role.EXTRACTOR)
    membership_add(review=small.review, user=second, role=Role.EXTRACTOR)
    membership_add(review=small.review, user=screener, role=Role.SCREENER)
    return Team(first, second, screener)


# Five more trials like the small review's one: every arm's SD is 6, so the median SD the rules
# compare the small study's arms with is 6, and the effects agree (SMD about -0.5).
OTHER_TRIALS = [(-4.0, -1.0), (-3.5, -1.2), (-4.5, -0.8), (-3.8, -1.1), (-4.1, -0.9)]


@pytest.fixture
def trials(small) -> list[Study]:
    studies = []
    for number, means in enumerate(OTHER_TRIALS, start=1):
        study = entity_save(instance=Study(review=small.review, label=f"Trial {number} 2021", year=2021))
        for role, mean in zip((ArmRole.INTERVENTION, ArmRole.CONTROL), means):
            arm = entity_save(instance=Arm(study=study, role=role, label=role.label, randomised=40))
            entity_save(instance=OutcomeData(study=study, outcome=small.outcome, time_point=small.time_point, arm=arm,
                                             n=40, mean=mean, sd=6.0))
        studies.append(study)
    assert not OutcomeData.objects.filter(study__review=small.review, check_state=CheckState.AWAITING_CHECK).exists()
    return studies


def analysed_sd(small, arm) -> float | None:
    """The SD of ``arm`` as the published analysis reads it (None: the study is not analysed)."""
    inputs = analysis_inputs_load(small.review.pk)
    rows = [r for r in inputs.outcomes[0].rows if r.study_id == small.study.pk]
    if not rows:
        return None
    return (rows[0].intervention if arm.role == ArmRole.INTERVENTION else rows[0].control).sd


def held(row: OutcomeData) -> OutcomeData:
    row.refresh_from_db()
    assert row.check_state == CheckState.AWAITING_CHECK, row.check_flags
    return row


def save_as(user, row: OutcomeData, **numbers) -> OutcomeData:
    for name, value in numbers.items():
        setattr(row, name, value)
    return entity_save(instance=row, user=user)


# --- Hard errors: refused, field and value named, nothing written ------------------------------------


def _dichotomous(small) -> Outcome:
    return entity_save(instance=Outcome(review=small.review, domain=small.outcome.domain, name="Relapse",
                                        data_type=DataType.DICHOTOMOUS, effect_measure=EffectMeasure.RR,
                                        direction="lower"))


HARD_ERRORS = [
    # (changes to the small study's intervention row, the outcome's scale, field, message)
    ({"sd": 0.0}, None, "sd", "SD must be greater than 0 (got 0)."),
    ({"sd": -2.5}, None, "sd", "SD must be greater than 0 (got -2.5)."),
    ({"n": 0}, None, "n", "n must be at least 1 (got 0)."),
    ({"n": 41}, None, "n", "n 41 is above the 40 randomised to Peer group."),
    ({"mean": 25.0}, (0, 20), "mean",
     "Mean 25 is outside the scale of Self-stigma for a change from baseline (-20 to 20)."),
    ({"mean": 12.0, "value_type": "final"}, (0, 10), "mean",
     "Mean 12 is outside the scale of Self-stigma for a final value (0 to 10)."),
    ({"mean": -6.0, "derivation": {"sd": {"method": "sd_from_ci", "inputs": {"lower": -5.0, "upper": -3.0, "n": 38}}}},
     None, "mean", "Mean -6 is not inside its confidence interval (-5 to -3): check the mean and the CI."),
]


def _with_scale(small, low=0.0, high=10.0):
    small.outcome.scale_min, small.outcome.scale_max = low, high
    return entity_save(instance=small.outcome)


@pytest.mark.parametrize(("changes", "scale", "field", "message"), HARD_ERRORS)
def test_the_service_refuses_impossible_values_naming_field_and_value(small, changes, scale, field, message):
    if scale:
        _with_scale(small, *scale)
    version = Review.objects.get(pk=small.review.pk).data_version
    row = OutcomeData.objects.get(pk=small.data.pk)
    for name, value in changes.items():
        setattr(row, name, value)
    with pytest.raises(ValidationError) as refused:
        entity_save(instance=row)
    assert message in refused.value.message_dict[field]
    stored = OutcomeData.objects.get(pk=small.data.pk)
    assert (stored.n, stored.mean, stored.sd) == (38, -4.2, 6.1)
    assert Review.objects.get(pk=small.review.pk).data_version == version


def test_the_service_refuses_impossible_events(small):
    relapse = _dichotomous(small)
    row = {"study": small.study, "outcome": relapse, "time_point": small.time_point, "arm": small.control}
    for values, field, message in [
        ({"events": -1, "total": 30}, "events", "Events cannot be negative (got -1)."),
        ({"events": 31, "total": 30}, "events", "Events (31) cannot exceed the total (30)."),
        ({"events": 3, "total": 41}, "total", "Total 41 is above the 40 randomised to Usual care."),
    ]:
        with pytest.raises(ValidationError) as refused:
            entity_save(instance=OutcomeData(**row, **values))
        assert message in refused.value.message_dict[field]
    assert not OutcomeData.objects.filter(outcome=relapse).exists()


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"sd": 0}, "sd", "SD must be greater than 0 (got 0)."),
    ({"n": 45}, "n", "n 45 is above the 40 randomised to Peer group."),
    ({"mean": 11, "value_type": "final"}, "mean", "Mean 11 is outside the scale of Self-stigma for a final value (0 to 10)."),
])
def test_the_api_refuses_impossible_values_naming_field_and_value(small, team, changes, field, message):
    _with_scale(small)
    response = client_for(team.first).patch(
        f"/api/reviews/{small.review.slug}/outcome-data/{small.data.pk}/", changes, format="json")
    assert response.status_code == 400, response.content
    assert response.json()[field] == [message]
    assert OutcomeData.objects.get(pk=small.data.pk).n == 38


def test_the_api_refuses_impossible_events(small, team):
    relapse = _dichotomous(small)
    response = client_for(team.first).post(f"/api/reviews/{small.review.slug}/outcome-data/", {
        "study": small.study.pk, "outcome": relapse.pk, "time_point": small.time_point.pk, "arm": small.control.pk,
        "events": 12, "total": 10}, format="json")
    assert response.status_code == 400
    assert response.json()["events"] == ["Events (12) cannot exceed the total (10)."]


def _admin_form(row: OutcomeData, **changes) -> dict:
    form = {"study": row.study_id, "outcome": row.outcome_id, "time_point": row.time_point_id, "arm": row.arm_id,
            "n": row.n, "mean": row.mean, "sd": row.sd, "value_type": row.value_type, "provenance": row.provenance,
            "include_in_analysis": "on", "derivation": "{}"}
    form.update(changes)
    return form


@pytest.mark.parametrize(("changes", "message"), [
    ({"sd": "0"}, "SD must be greater than 0 (got 0)."),
    ({"n": "45"}, "n 45 is above the 40 randomised to Peer group."),
    ({"mean": "11", "value_type": "final"}, "Mean 11 is outside the scale of Self-stigma for a final value (0 to 10)."),
    ({"mean": "-6", "derivation": json.dumps({"sd": {"method": "sd_from_ci", "inputs": {"lower": -5, "upper": -3, "n": 38}}})},
     "Mean -6 is not inside its confidence interval (-5 to -3): check the mean and the CI."),
])
def test_the_admin_form_refuses_impossible_values_naming_field_and_value(small, client, changes, message):
    _with_scale(small)
    client.force_login(small.manager)
    response = client.post(f"/admin/studies/outcomedata/{small.data.pk}/change/", _admin_form(small.data, **changes))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert OutcomeData.objects.get(pk=small.data.pk).n == 38


# --- Soft flags: held, with a sentence saying why --------------------------------------------------


def test_an_sd_a_thousand_times_too_large_is_held_and_the_analysis_keeps_the_confirmed_one(small, trials, team):
    save_as(team.first, small.data, sd=6100.0)
    row = held(small.data)
    assert (row.sd, row.confirmed_sd, row.entered_by) == (6100.0, 6.1, team.first)
    assert [f["message"] for f in row.check_flags] == [
        ("Only 2020 · Peer group · Self-stigma: SD 6100 is 1017 times the median SD of the other 5 studies (6); "
        "more than 5 times is held for a check."),
        ("Only 2020 · Peer group · Self-stigma: SD changed from 6.1 to 6100 (1000-fold); more than 10-fold is held "
        "for a check, and the analysis keeps 6.1 until then."),
    ]
    assert analysed_sd(small, small.intervention) == 6.1


def test_an_sd_one_fifth_of_the_others_and_an_se_typed_as_the_sd_are_held(small, trials, team):
    save_as(team.first, small.data, sd=1.0)  # 1 × √38 = 6.16: an SE
    assert [(f["rule"], f["message"]) for f in held(small.data).check_flags] == [
        ("sd_far_from_median", ("Only 2020 · Peer group · Self-stigma: SD 1 is 1/6 of the median SD of the other 5 "
                               "studies (6); less than 1/5 is held for a check.")),
        ("sd_looks_like_se", ("Only 2020 · Peer group · Self-stigma: SD 1 looks like a standard error: "
                             "SD × √n = 1 × √38 = 6.16, close to the median SD of the other 5 studies (6).")),
    ]
    # An SE of a group of 9 (2 × 3 = 6): within 1/5 of the median, but the SE pattern holds it.
    save_as(team.first, small.data, n=9, sd=2.0)
    assert [f["rule"] for f in held(small.data).check_flags] == ["sd_looks_like_se"]


def test_a_tenfold_change_is_held(small, team):
    save_as(team.first, small.data, n=3)
    assert [f["message"] for f in held(small.data).check_flags] == [
        ("Only 2020 · Peer group · Self-stigma: n changed from 38 to 3 (13-fold); more than 10-fold is held for a "
        "check, and the analysis keeps 38 until then.")]


def test_an_sd_larger_than_the_scale_is_held(small, team):
    _with_scale(small, 0, 5)
    save_as(team.first, small.data, sd=5.5)
    assert [f["message"] for f in held(small.data).check_flags] == [
        "Only 2020 · Peer group · Self-stigma: SD 5.5 is larger than the range of the scale (0 to 5)."]


def test_a_study_far_from_all_others_is_held(small, trials, team):
    save_as(team.first, small.data, mean=-40.0)
    (flag,) = held(small.data).check_flags
    assert flag["rule"] == "outlying_study"
    assert flag["message"].startswith("Only 2020 · Peer group · Self-stigma: the study's effect (SMD -6.")
    assert "from the other 5 studies: studentized deleted residual z = -" in flag["message"]
    # One trial of six a little off (SMD about -1.3 instead of -0.5) is not held.
    save_as(team.first, OutcomeData.objects.get(pk=small.data.pk), mean=-8.0)
    assert OutcomeData.objects.get(pk=small.data.pk).check_state == CheckState.CONFIRMED


def test_a_plausible_edit_is_confirmed_at_once_and_analysed(small, trials, team):
    save_as(team.first, small.data, sd=6.4, mean=-4.4)
    row = OutcomeData.objects.get(pk=small.data.pk)
    assert (row.check_state, row.confirmed_sd, row.check_flags) == (CheckState.CONFIRMED, 6.4, [])
    assert analysed_sd(small, small.intervention) == 6.4


def test_a_new_held_row_is_left_out_until_confirmed(small, trials, team):
    study = entity_save(instance=Study(review=small.review, label="New 2023", year=2023))
    arms = [entity_save(instance=Arm(study=study, role=role, label=role.label, randomised=40))
            for role in (ArmRole.INTERVENTION, ArmRole.CONTROL)]
    new = entity_save(instance=OutcomeData(study=study, outcome=small.outcome, time_point=small.time_point,
                                           arm=arms[0], n=40, mean=-4.0, sd=6000.0), user=team.first)
    entity_save(instance=OutcomeData(study=study, outcome=small.outcome, time_point=small.time_point, arm=arms[1],
                                     n=40, mean=-1.0, sd=6.0), user=team.first)
    assert held(new).confirmed_sd is None
    analysed = [r.label for r in analysis_inputs_load(small.review.pk).outcomes[0].rows]
    assert "New 2023" not in analysed and len(analysed) == 6
    outcome_value_confirm(row_id=new.pk, user=team.second)
    assert "New 2023" in [r.label for r in analysis_inputs_load(small.review.pk).outcomes[0].rows]


def test_a_held_value_entered_back_to_its_confirmed_numbers_is_confirmed(small, trials, team):
    save_as(team.first, small.data, sd=6100.0)
    save_as(team.first, held(small.data), sd=6.1)
    row = OutcomeData.objects.get(pk=small.data.pk)
    assert (row.check_state, row.check_flags) == (CheckState.CONFIRMED, [])


# --- The second look -------------------------------------------------------------------------------


def test_only_a_second_team_member_confirms(small, trials, team):
    save_as(team.first, small.data, sd=6100.0)
    with pytest.raises(PermissionDenied, match="You entered this value"):
        outcome_value_confirm(row_id=small.data.pk, user=team.first)
    with pytest.raises(PermissionDenied, match="Only the review's extractor or managers can confirm"):
        outcome_value_confirm(row_id=small.data.pk, user=team.screener)
    version = Review.objects.get(pk=small.review.pk).data_version
    outcome_value_confirm(row_id=small.data.pk, user=team.second)
    row = OutcomeData.objects.get(pk=small.data.pk)
    assert (row.check_state, row.confirmed_sd, row.checked_by) == (CheckState.CONFIRMED, 6100.0, team.second)
    assert Review.objects.get(pk=small.review.pk).data_version == version + 1
    assert analysed_sd(small, small.intervention) == 6100.0
    with pytest.raises(ValidationError, match="not awaiting a check"):
        outcome_value_confirm(row_id=small.data.pk, user=small.manager)
    # Audited: the trail holds the held entry and its confirmation, with who checked it.
    events = EVENT_MODELS[OutcomeData].objects.filter(pgh_obj_id=small.data.pk).order_by("pgh_id")
    assert [(e.check_state, e.sd, e.confirmed_sd, e.checked_by_id) for e in events][-2:] == [
        (CheckState.AWAITING_CHECK, 6100.0, 6.1, None), (CheckState.CONFIRMED, 6100.0, 6100.0, team.second.pk)]


def test_a_manager_confirms_an_extractors_value(small, trials, team):
    save_as(team.first, small.data, sd=6100.0)
    outcome_value_confirm(row_id=small.data.pk, user=small.manager)
    assert OutcomeData.objects.get(pk=small.data.pk).check_state == CheckState.CONFIRMED


def test_a_correction_replaces_the_entry_and_is_confirmed(small, trials, team):
    save_as(team.first, small.data, sd=6100.0)
    with pytest.raises(ValidationError) as refused:
        outcome_value_correct(row_id=small.data.pk, user=team.second, values={"sd": "-1"})
    assert refused.value.message_dict == {"sd": ["SD must be greater than 0 (got -1)."]}
    assert held(small.data).sd == 6100.0
    with pytest.raises(ValidationError, match="cannot be given"):
        outcome_value_correct(row_id=small.data.pk, user=team.second, values={"events": 3})
    outcome_value_correct(row_id=small.data.pk, user=team.second, values={"sd": "6.0"})
    row = OutcomeData.objects.get(pk=small.data.pk)
    assert (row.sd, row.confirmed_sd, row.check_state, row.checked_by) == (6.0, 6.0, CheckState.CONFIRMED, team.second)


# --- API -------------------------------------------------------------------------------------------


def test_the_api_shows_the_check_and_a_second_person_confirms_through_it(small, trials, team):
    _with_scale(small, -20, 20)
    url = f"/api/reviews/{small.review.slug}/outcome-data/{small.data.pk}/"
    response = client_for(team.first).patch(url, {"sd": 6100}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["sd"], body["confirmed_sd"], body["check_state"], body["entered_by"]) == (
        6100.0, 6.1, "awaiting_check", team.first.pk)
    assert [f["rule"] for f in body["check_flags"]] == ["sd_far_from_median", "sd_above_scale_range",
                                                        "changed_tenfold"]
    # The public sees the numbers the analysis uses, not the held entry.
    small.review.is_public = True
    entity_save(instance=small.review)
    public = APIClient().get(url).json()
    assert (public["sd"], public["check_flags"], public["entered_by"]) == (6.1, [], None)

    assert client_for(team.first).post(url + "confirm/").status_code == 403
    assert client_for(team.screener).post(url + "confirm/").status_code == 403
    assert APIClient().post(url + "confirm/").status_code in (401, 403)
    assert held(small.data).check_state == CheckState.AWAITING_CHECK
    response = client_for(team.second).post(url + "correct/", {"sd": 0}, format="json")
    assert response.status_code == 400 and response.json() == {"sd": ["SD must be greater than 0 (got 0)."]}
    response = client_for(team.second).post(url + "correct/", {"sd": 6.2}, format="json")
    assert response.status_code == 200
    assert (response.json()["sd"], response.json()["confirmed_sd"], response.json()["check_state"]) == (
        6.2, 6.2, "confirmed")
    assert client_for(team.second).post(url + "confirm/").status_code == 400  # nothing held any more


# --- Pages -----------------------------------------------------------------------------------------


def test_the_team_sees_the_count_and_a_checker_confirms_on_the_page(small, trials, team, client):
    save_as(team.first, small.data, sd=6100.0)
    page = f"/reviews/{small.review.slug}/extraction/awaiting-check/"
    client.force_login(team.second)
    home = client.get("/").content.decode()
    assert f'href="{page}">Extracted values awaiting check</a>: <strong>1</strong>' in home
    listing = client.get(f"/reviews/{small.review.slug}/extraction/").content.decode()
    assert "1 value awaiting check" in listing
    text = client.get(page).content.decode()
    assert "Entered by extractor-one" in text and "SD 6100 is 1017 times the median SD" in text
    assert "<td>6.1</td><td><strong>6100</strong></td>" in text and "Confirm as entered" in text

    client.force_login(team.first)  # the person who entered it sees it, without the actions
    text = client.get(page).content.decode()
    assert "You entered this value: another team member checks it." in text and "Confirm as entered" not in text
    response = client.post(page, {"row": small.data.pk, "kind": "value", "action": "confirm"})
    assert response.status_code == 400 and "You entered this value" in response.content.decode()
    client.force_login(team.screener)
    assert client.get(page).status_code == 403

    client.force_login(team.second)
    response = client.post(page, {"row": small.data.pk, "kind": "value", "action": "correct", "n": "38", "mean": "-4.2", "sd": "6.3"})
    assert response.status_code == 302
    assert OutcomeData.objects.get(pk=small.data.pk).confirmed_sd == 6.3
    assert "No values are awaiting check." in client.get(page).content.decode()


def test_the_public_data_download_has_the_confirmed_numbers_only(small, trials, team):
    from analysis.selectors import EXTRACTED_DATA_COLUMNS, extracted_data_rows

    save_as(team.first, small.data, sd=6100.0)
    study = entity_save(instance=Study(review=small.review, label="New 2023", year=2023))
    arm = entity_save(instance=Arm(study=study, role=ArmRole.INTERVENTION, label="Peer group", randomised=40))
    entity_save(instance=OutcomeData(study=study, outcome=small.outcome, time_point=small.time_point, arm=arm,
                                     n=40, mean=-4.0, sd=6000.0), user=team.first)
    rows = [dict(zip(EXTRACTED_DATA_COLUMNS, r, strict=True)) for r in extracted_data_rows(small.review)]
    ours = [r for r in rows if r["study"] == "Only 2020" and r["arm"] == "Peer group"]
    assert [r["sd"] for r in ours] == [6.1]
    assert "New 2023" not in {r["study"] for r in rows}


# --- Study estimates (generic inverse variance) ----------------------------------------------------

# Five trials' adjusted log hazard ratios, each with 200 + 200 participants: SE x sqrt(400) is 2.0, 2.4,
# 1.8, 2.2 and 2.0 (median 2.0), and the estimates agree (no heterogeneity to speak of).
OTHER_ESTIMATES = [(-0.22, 0.10), (-0.30, 0.12), (-0.15, 0.09), (-0.25, 0.11), (-0.20, 0.10)]


@dataclass
class Generic:
    outcome: Outcome
    estimates: list


@pytest.fixture
def generic(small, trials) -> Generic:
    outcome = entity_save(instance=Outcome(
        review=small.review, domain=small.outcome.domain, name="Relapse (adjusted HR)", data_type=DataType.GENERIC,
        effect_measure=EffectMeasure.GENERIC, direction="lower", generic_measure="Hazard Ratio", log_scale=True))
    estimates = [entity_save(instance=StudyEstimate(study=study, outcome=outcome, time_point=small.time_point,
                                                    estimate=estimate, se=se, n_intervention=200, n_control=200))
                 for study, (estimate, se) in zip(trials, OTHER_ESTIMATES, strict=True)]
    assert not StudyEstimate.objects.filter(check_state=CheckState.AWAITING_CHECK).exists()
    return Generic(outcome, estimates)


def analysed_estimates(small, outcome) -> dict[str, tuple[float, float]]:
    """Each study's (estimate, SE) as the published analysis reads them."""
    inputs = analysis_inputs_load(small.review.pk)
    (pooled,) = [o for o in inputs.outcomes if o.outcome.pk == outcome.pk]
    return {row.label: (row.effect, row.se) for row in pooled.rows}


def new_estimate(small, generic, user, **numbers) -> StudyEstimate:
    return entity_save(instance=StudyEstimate(study=small.study, outcome=generic.outcome, time_point=small.time_point,
                                              **{"n_intervention": 200, "n_control": 200, **numbers}), user=user)


def test_a_hazard_ratio_entered_without_its_log_is_held_and_left_out_until_confirmed(small, generic, team):
    """An HR of 0.8 typed as 0.8 (log HR 0.8 is an HR of 2.2) sits far from the other five studies."""
    row = new_estimate(small, generic, team.first, estimate=0.8, se=0.1)
    row = held(row)
    assert [f["rule"] for f in row.check_flags] == ["outlying_study"]
    assert "the estimate 0.8 (SE 0.1) lies far from the other 5 studies: studentized deleted residual z = " in (
        row.check_flags[0]["message"])
    assert (row.confirmed_estimate, row.confirmed_se, row.entered_by_id) == (None, None, team.first.pk)
    assert "Only 2020" not in analysed_estimates(small, generic.outcome)
    with pytest.raises(PermissionDenied):
        study_estimate_confirm(row_id=row.pk, user=team.first)
    with pytest.raises(PermissionDenied):
        study_estimate_confirm(row_id=row.pk, user=team.screener)
    corrected = study_estimate_correct(row_id=row.pk, user=team.second, values={"estimate": "-0.2231"})
    assert (corrected.check_state, corrected.checked_by_id) == (CheckState.CONFIRMED, team.second.pk)
    assert analysed_estimates(small, generic.outcome)["Only 2020"] == (-0.2231, 0.1)


def test_an_se_far_from_the_others_for_its_size_and_a_tenfold_change_are_held(small, generic, team):
    row = held(new_estimate(small, generic, team.first, estimate=-0.2, se=0.012))
    assert [f["rule"] for f in row.check_flags] == ["se_far_from_median"]
    assert row.check_flags[0]["message"] == (
        "Only 2020 · Relapse (adjusted HR): SE 0.012 with 400 participants (SE × √N = 0.24) is 1/8.3 of the "
        "median SE × √N of the other 5 studies (2); beyond 5-fold either way is held for a check.")
    edited = generic.estimates[0]
    edited.se = 1.5
    edited = held(entity_save(instance=edited, user=team.first))
    assert {f["rule"] for f in edited.check_flags} == {"se_far_from_median", "changed_tenfold"}
    assert "SE changed from 0.1 to 1.5 (15-fold)" in " ".join(f["message"] for f in edited.check_flags)
    # The analysis keeps the last confirmed SE while the edit waits for its check.
    assert analysed_estimates(small, generic.outcome)["Trial 1 2021"] == (-0.22, 0.10)
    study_estimate_confirm(row_id=edited.pk, user=small.manager)
    assert analysed_estimates(small, generic.outcome)["Trial 1 2021"] == (-0.22, 1.5)


def test_an_se_too_small_to_weigh_is_held_left_out_and_does_not_silence_the_outlier_rule(small, generic, team):
    """An SE of 1e-160 (its square underflows, its weight is infinite) once made every other study's
    residual NaN, so no later outlier was caught, and the pooled estimate NaN."""
    row = held(new_estimate(small, generic, team.first, estimate=-0.2, se=1e-160, n_intervention=None,
                            n_control=None))
    assert [f["rule"] for f in row.check_flags] == ["se_cannot_be_weighed"]
    assert "SE 1e-160 is too small to weigh" in row.check_flags[0]["message"]
    study_estimate_confirm(row_id=row.pk, user=small.manager)  # confirmed as entered, all the same
    (result,) = [r for r in review_results_compute(analysis_inputs_load(small.review.pk))
                 if r.outcome_id == generic.outcome.pk and r.analysis_set == "main" and r.subgroup_field_id is None]
    pooled = result.payload[result.payload["chosen_model"]]
    assert pooled["estimate"] is not None and math.isfinite(pooled["estimate"]) and pooled["k"] == len(OTHER_ESTIMATES)
    # An HR typed without its log in another study is still caught.
    other = generic.estimates[0]
    other.estimate = 0.8
    other = held(entity_save(instance=other, user=team.first))
    assert [f["rule"] for f in other.check_flags] == ["outlying_study"]


def test_an_se_far_below_every_other_without_group_sizes_is_held_and_once_confirmed_spoils_no_residual(
        small, generic, team):
    # An SE a fifth of the smallest other, with no group sizes: a large trial, not a slip.
    row = new_estimate(small, generic, team.first, estimate=-0.25, se=0.018, n_intervention=None, n_control=None)
    row.refresh_from_db()
    assert row.check_state == CheckState.CONFIRMED, row.check_flags
    row.se, row.estimate = 1e-12, -0.6
    row = held(entity_save(instance=row, user=team.first))
    assert {f["rule"] for f in row.check_flags} >= {"se_far_below_others", "changed_tenfold"}
    assert "SE 1e-12 is 1/" in " ".join(f["message"] for f in row.check_flags)
    study_estimate_confirm(row_id=row.pk, user=small.manager)  # the checker confirms it all the same
    # An ordinary estimate entered later is not made an outlier by it (the leave-one-out τ² once
    # cancelled to 0 beside the dominant weight, giving z = 4).
    other = generic.estimates[0]
    other.estimate = -0.2
    other = entity_save(instance=other, user=team.first)
    other.refresh_from_db()
    assert other.check_state == CheckState.CONFIRMED, other.check_flags


def test_a_plausible_estimate_is_confirmed_at_once_and_analysed(small, generic, team):
    row = new_estimate(small, generic, team.first, estimate=-0.18, se=0.11)
    row.refresh_from_db()
    assert (row.check_state, row.confirmed_estimate, row.confirmed_se) == (CheckState.CONFIRMED, -0.18, 0.11)
    assert analysed_estimates(small, generic.outcome)["Only 2020"] == (-0.18, 0.11)


def test_the_api_and_the_page_hold_and_check_an_estimate(small, generic, team, client):
    base = f"/api/reviews/{small.review.slug}/study-estimates/"
    response = client_for(team.first).post(base, {
        "study": small.study.pk, "outcome": generic.outcome.pk, "time_point": small.time_point.pk,
        "estimate": 0.8, "se": 0.1, "n_intervention": 200, "n_control": 200}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["check_state"], body["confirmed_estimate"], body["entered_by"]) == (
        "awaiting_check", None, team.first.pk)
    small.review.is_public = True
    entity_save(instance=small.review)
    public = APIClient().get(base).json()["results"]
    assert sorted(r["estimate"] for r in public) == sorted(e for e, _ in OTHER_ESTIMATES)  # not the held one
    url = f"{base}{body['id']}/"
    assert client_for(team.first).post(url + "confirm/").status_code == 403
    assert client_for(team.second).post(url + "correct/", {"se": 0}, format="json").status_code == 400

    page = f"/reviews/{small.review.slug}/extraction/awaiting-check/"
    client.force_login(team.second)
    text = client.get(page).content.decode()
    assert "Only 2020 · Relapse (adjusted HR) · " in text and "(study estimate)" in text
    assert "<td>—</td><td><strong>0.8</strong></td>" in text
    response = client.post(page, {"row": body["id"], "kind": "estimate", "action": "correct", "estimate": "-0.2231",
                                  "se": "0.1"})
    assert response.status_code == 302
    row = StudyEstimate.objects.get(pk=body["id"])
    assert (row.check_state, row.confirmed_estimate, row.checked_by_id) == (CheckState.CONFIRMED, -0.2231, team.second.pk)
    assert APIClient().get(url).json()["estimate"] == -0.2231
    assert "No values are awaiting check." in client.get(page).content.decode()


def test_group_sizes_are_checked_numbers_too(small, generic, team):
    """N is published (forest plot, participants, GRADE imprecision): a tenfold N is held and the
    analysis keeps the confirmed one."""
    edited = generic.estimates[1]
    edited.n_intervention, edited.n_control = 20000, 20000
    edited = held(entity_save(instance=edited, user=team.first))
    assert {f["field"] for f in edited.check_flags if f["rule"] == "changed_tenfold"} == {"n_intervention", "n_control"}
    inputs = analysis_inputs_load(small.review.pk)
    (pooled,) = [o for o in inputs.outcomes if o.outcome.pk == generic.outcome.pk]
    (row,) = [r for r in pooled.rows if r.label == "Trial 2 2021"]
    assert (row.intervention.n, row.control.n) == (200, 200)
    study_estimate_correct(row_id=edited.pk, user=team.second, values={"n_intervention": "210", "n_control": "190"})
    edited.refresh_from_db()
    assert (edited.confirmed_n_intervention, edited.confirmed_n_control, edited.check_state) == (
        210, 190, CheckState.CONFIRMED)


def test_a_held_estimate_moved_to_another_time_point_stays_held_and_out_of_the_analysis_there(small, generic, team):
    """Its numbers were confirmed for another place: moved, it is an entry new where it lands."""
    from studies.models import TimePoint

    edited = generic.estimates[0]
    edited.se = 1.5
    edited = held(entity_save(instance=edited, user=team.first))
    later = entity_save(instance=TimePoint(review=small.review, label="12 months", order=5))
    edited.time_point = later
    moved = held(entity_save(instance=edited, user=team.first))
    assert (moved.confirmed_se, moved.entered_by_id, moved.checked_by_id) == (None, team.first.pk, None)
    assert "changed_tenfold" in {f["rule"] for f in moved.check_flags}
    # A plausible confirmed estimate moved alone is confirmed where it lands.
    plain = generic.estimates[1]
    plain.time_point = later
    entity_save(instance=plain, user=team.first)
    plain.refresh_from_db()
    assert (plain.check_state, plain.confirmed_se) == (CheckState.CONFIRMED, 0.12)


def test_a_confirm_approves_only_what_the_checker_saw_and_a_stale_copy_keeps_who_checked(small, generic, team):
    edited = generic.estimates[0]
    edited.se = 1.5
    edited = held(entity_save(instance=edited, user=team.first))
    stale = StudyEstimate.objects.get(pk=edited.pk)
    edited.se = 3.0  # changed again by the person who entered it, after the checker looked
    entity_save(instance=edited, user=team.first)
    with pytest.raises(ValidationError, match=r"changed after you looked at it \(se 1.5 → 3\)"):
        study_estimate_confirm(row_id=edited.pk, user=team.second, seen={"estimate": -0.22, "se": 1.5})
    confirmed = study_estimate_confirm(row_id=edited.pk, user=team.second, seen={"estimate": -0.22, "se": 3.0})
    assert (confirmed.confirmed_se, confirmed.checked_by_id) == (3.0, team.second.pk)
    stale.se, stale.source_location = 3.0, "Table 2"  # an old copy saved with the same numbers
    entity_save(instance=stale, user=team.first)
    stale.refresh_from_db()
    assert (stale.check_state, stale.checked_by_id, stale.confirmed_se) == (CheckState.CONFIRMED, team.second.pk, 3.0)


def test_a_studys_other_subgroup_is_not_another_study(small, generic, team):
    from studies.models import OutcomeSubgroup

    low, high = (entity_save(instance=OutcomeSubgroup(outcome=generic.outcome, name=name)) for name in ("Low", "High"))
    new_estimate(small, generic, team.first, estimate=-0.2, se=0.1, subgroup=low)
    row = held(new_estimate(small, generic, team.first, estimate=0.8, se=0.1, subgroup=high))
    assert "lies far from the other 5 studies" in row.check_flags[0]["message"]


def test_a_reader_cannot_order_by_an_entered_number_and_the_page_needs_the_kind(small, generic, team, client):
    new_estimate(small, generic, team.first, estimate=5.0, se=0.1)  # held, new: not shown to readers
    edited = generic.estimates[2]
    edited.estimate = 9.0  # held edit: readers see its confirmed -0.15
    held(entity_save(instance=edited, user=team.first))
    small.review.is_public = True
    entity_save(instance=small.review)
    base = f"/api/reviews/{small.review.slug}/study-estimates/"
    by_id = [r["id"] for r in APIClient().get(base).json()["results"]]
    assert [r["id"] for r in APIClient().get(base + "?ordering=-estimate").json()["results"]] == by_id
    by_confirmed = [r["estimate"] for r in APIClient().get(base + "?ordering=confirmed_estimate").json()["results"]]
    assert by_confirmed == sorted(by_confirmed) and 9.0 not in by_confirmed
    client.force_login(team.second)
    page = f"/reviews/{small.review.slug}/extraction/awaiting-check/"
    assert client.post(page, {"row": edited.pk, "action": "confirm"}).status_code == 400


def test_a_held_arm_value_moved_to_another_time_point_stays_held(small, trials, team):
    from studies.models import TimePoint

    row = held(save_as(team.first, small.data, sd=6100.0))
    row.time_point = entity_save(instance=TimePoint(review=small.review, label="12 months", order=5))
    moved = held(entity_save(instance=row, user=team.first))
    assert (moved.confirmed_sd, moved.sd) == (None, 6100.0)


def test_a_confirmed_arm_value_moved_where_it_is_implausible_is_held_there(small, team):
    """SD 6.1 was plausible for Self-stigma; on an outcome scored 0 to 5 it is larger than the range."""
    other = entity_save(instance=Outcome(review=small.review, domain=small.outcome.domain, name="Hope",
                                         data_type=DataType.CONTINUOUS, effect_measure=EffectMeasure.SMD,
                                         direction="higher", scale_min=0, scale_max=5))
    row = OutcomeData.objects.get(pk=small.data.pk)
    row.outcome, row.mean = other, 3.0
    moved = held(entity_save(instance=row, user=team.first))
    assert [f["rule"] for f in moved.check_flags] == ["sd_above_scale_range"] and moved.confirmed_sd is None


def test_a_correction_with_an_infinite_number_is_refused_and_the_api_confirm_takes_empty_seen_numbers(
        small, generic, team, client):
    row = held(new_estimate(small, generic, team.first, estimate=0.8, se=0.1, n_intervention=None, n_control=None))
    page = f"/reviews/{small.review.slug}/extraction/awaiting-check/"
    client.force_login(team.second)
    response = client.post(page, {"row": row.pk, "kind": "estimate", "action": "correct", "n_intervention": "inf"})
    assert response.status_code == 400 and "n_intervention: enter a finite number (got &#x27;inf&#x27;)." in (
        response.content.decode())
    url = f"/api/reviews/{small.review.slug}/study-estimates/{row.pk}/confirm/"
    seen = {"estimate": 0.8, "se": 0.1, "n_intervention": None, "n_control": None}
    refused = client_for(team.second).post(url, {**seen, "estimate": 0.7}, format="json")
    assert refused.status_code == 400 and "changed after you looked at it (estimate 0.7 → 0.8)" in str(refused.json())
    confirmed = client_for(team.second).post(url, seen, format="json")
    assert confirmed.status_code == 200 and confirmed.json()["check_state"] == "confirmed"


def test_a_confirm_is_refused_for_an_entry_moved_after_the_checker_looked_on_the_page_and_the_api(
        small, generic, team, client):
    import re

    from studies.models import TimePoint

    row = held(new_estimate(small, generic, team.first, estimate=0.8, se=0.1))
    page = f"/reviews/{small.review.slug}/extraction/awaiting-check/"
    client.force_login(team.second)
    form = client.get(page).content.decode()
    shown = dict(re.findall(r'<input type="hidden" name="(seen_\w+)" value="([^"]*)">', form))
    assert (shown["seen_study"], shown["seen_outcome"], shown["seen_time_point"], shown["seen_subgroup"],
            shown["seen_estimate"]) == (str(small.study.pk), str(generic.outcome.pk), str(small.time_point.pk), "", "0.8")
    # A number changed after the look: an API correction of another number is refused, as a confirm is.
    row.se = 0.09
    row = held(entity_save(instance=row, user=team.first))
    correct_url = f"/api/reviews/{small.review.slug}/study-estimates/{row.pk}/correct/"
    refused = client_for(team.second).post(correct_url, {"estimate": -0.2, "seen": {"se": 0.1}}, format="json")
    assert refused.status_code == 400 and "changed after you looked at it (se 0.1 → 0.09)" in str(refused.json())
    shown["seen_se"] = "0.09"
    row.time_point = entity_save(instance=TimePoint(review=small.review, label="12 months", order=5))
    entity_save(instance=row, user=team.first)  # moved by the person who entered it, still held
    response = client.post(page, {"row": row.pk, "kind": "estimate", "action": "confirm", **shown})
    assert response.status_code == 400 and "was moved (its time point) after you looked at it" in (
        response.content.decode())
    # A correction too: the checker's numbers were meant for where they saw the entry.
    response = client.post(page, {"row": row.pk, "kind": "estimate", "action": "correct", "estimate": "-0.2",
                                  **shown})
    assert response.status_code == 400 and "was moved (its time point)" in response.content.decode()
    refused = client_for(team.second).post(correct_url, {"estimate": -0.2, "seen": {"time_point": small.time_point.pk}},
                                           format="json")
    assert refused.status_code == 400 and "was moved (its time point)" in str(refused.json())

    # The API's confirm takes the same place (ids; a null subgroup: none).
    url = f"/api/reviews/{small.review.slug}/study-estimates/{row.pk}/confirm/"
    seen = {"estimate": 0.8, "se": 0.1, "outcome": generic.outcome.pk, "time_point": small.time_point.pk,
            "subgroup": None}
    refused = client_for(team.second).post(url, seen, format="json")
    assert refused.status_code == 400 and "was moved (its time point)" in str(refused.json())
    shown["seen_time_point"] = str(row.time_point_id)
    assert client.post(page, {"row": row.pk, "kind": "estimate", "action": "confirm", **shown}).status_code == 302


def test_a_value_moved_to_another_subgroup_after_the_look_is_not_confirmed(small, team, client):
    import re

    from studies.models import OutcomeSubgroup

    value = small.data
    value.sd = 80.0
    value = held(entity_save(instance=value, user=team.first))
    page = f"/reviews/{small.review.slug}/extraction/awaiting-check/"
    client.force_login(team.second)
    shown = dict(re.findall(r'<input type="hidden" name="(seen_\w+)" value="([^"]*)">', client.get(page).content.decode()))
    assert shown["seen_subgroup"] == ""
    value.subgroup = entity_save(instance=OutcomeSubgroup(outcome=value.outcome, name="Adolescents"))
    entity_save(instance=value, user=team.first)
    response = client.post(page, {"row": value.pk, "kind": "value", "action": "confirm", **shown})
    assert response.status_code == 400 and "was moved (its subgroup)" in response.content.decode()
    assert "Adolescents" in client.get(page).content.decode()  # the page names where it is now


def test_an_estimate_moved_to_another_study_after_the_look_is_neither_confirmed_nor_corrected(
        small, generic, team, client):
    import re

    from studies.models import Study

    row = held(new_estimate(small, generic, team.first, estimate=0.8, se=0.1))
    page = f"/reviews/{small.review.slug}/extraction/awaiting-check/"
    client.force_login(team.second)
    shown = dict(re.findall(r'<input type="hidden" name="(seen_\w+)" value="([^"]*)">', client.get(page).content.decode()))
    row.study = entity_save(instance=Study(review=small.review, label="Moved 2019", year=2019))
    entity_save(instance=row, user=team.first)
    for action in ("confirm", "correct"):
        response = client.post(page, {"row": row.pk, "kind": "estimate", "action": action, **shown})
        assert response.status_code == 400 and "was moved (its study)" in response.content.decode()
    url = f"/api/reviews/{small.review.slug}/study-estimates/{row.pk}/"
    refused = client_for(team.second).post(url + "confirm/", {"estimate": 0.8, "se": 0.1, "study": small.study.pk},
                                           format="json")
    assert refused.status_code == 400 and "was moved (its study)" in str(refused.json())
    assert held(row).check_state == CheckState.AWAITING_CHECK


def test_the_api_confirm_of_an_outcome_value_is_refused_for_one_moved_to_another_arm(small, team):
    from studies.models import Arm, ArmRole

    value = small.data
    value.sd = 80.0  # thirteen times the SD: held
    value = held(entity_save(instance=value, user=team.first))
    second_arm = entity_save(instance=Arm(study=small.study, role=ArmRole.INTERVENTION, label="Peer group, online"))
    shown_arm = value.arm_id
    value.arm = second_arm
    value = held(entity_save(instance=value, user=team.first))
    url = f"/api/reviews/{small.review.slug}/outcome-data/{value.pk}/confirm/"
    seen = {"n": value.n, "mean": value.mean, "sd": value.sd, "outcome": value.outcome_id,
            "time_point": value.time_point_id}
    refused = client_for(team.second).post(url, {**seen, "arm": shown_arm}, format="json")
    assert refused.status_code == 400 and "was moved (its arm)" in str(refused.json())
    confirmed = client_for(team.second).post(url, {**seen, "arm": second_arm.pk}, format="json")
    assert confirmed.status_code == 200 and confirmed.json()["check_state"] == "confirmed"
