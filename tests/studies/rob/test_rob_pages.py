"""The assessors' entry pages through the test client: who may open them, a draft and a submission,
blinding on the consensus page, the consensus recorded from it, and the live proposal."""
import json

from django.contrib.auth import get_user_model
import pytest

from studies.models import Review, Rob2Assessment
from studies.rob2 import HIGH, LOW
from studies.services.risk_of_bias import answer_field

from rob_entries import ALL_LOW, HIGH_D2


def form(answers, **extra) -> dict:
    data = {answer_field(q): a for q, a in answers.items()}
    data.update(extra)
    return data


@pytest.fixture
def rob2_review(small, team):
    review = Review.objects.get(pk=small.review.pk)
    review.rob_tool = "ROB2"
    review.save()
    return small


def url(small, tail=""):
    return f"/reviews/{small.review.slug}/risk-of-bias/studies/{small.study.pk}/outcomes/{small.outcome.pk}/{tail}"


def test_access_is_denied_by_default(client, rob2_review, team):
    small = rob2_review
    assert client.get(f"/reviews/{small.review.slug}/risk-of-bias/").status_code == 302  # to the login page
    outsider = get_user_model().objects.create_user("outsider", password="a-long-test-password")
    client.force_login(outsider)
    assert client.get(f"/reviews/{small.review.slug}/risk-of-bias/").status_code == 404  # unpublished
    assert client.get(url(small)).status_code == 404
    client.force_login(team.extractor)
    assert client.get(f"/reviews/{small.review.slug}/risk-of-bias/").status_code == 403
    assert client.post(url(small), form(ALL_LOW)).status_code == 403
    client.force_login(small.manager)  # managers see the list and arbitrate, but do not assess
    assert client.get(f"/reviews/{small.review.slug}/risk-of-bias/").status_code == 200
    assert client.get(url(small)).status_code == 403
    assert not Rob2Assessment.objects.filter(study=small.study).exists()


def test_two_assessors_reach_consensus_blinded_until_both_submit(client, rob2_review, team):
    small = rob2_review
    client.force_login(team.first)
    listing = client.get(f"/reviews/{small.review.slug}/risk-of-bias/").content.decode()
    assert small.study.label in listing and small.outcome.name in listing and "not started" in listing
    page = client.get(url(small)).content.decode()
    assert "1.1 Was the allocation sequence random?" in page and "Guidance" in page
    response = client.post(url(small), form(ALL_LOW, c1_1="FIRST-ASSESSOR-QUOTE", action="submit"))
    assert response.status_code == 302
    client.force_login(team.second)
    response = client.post(url(small), form(HIGH_D2, c2_3="SECOND-ASSESSOR-QUOTE", action="save"))
    assert response.status_code == 302
    # The second assessor has only a draft: neither page shows the first assessor's work.
    assert "FIRST-ASSESSOR-QUOTE" not in client.get(url(small)).content.decode()
    assert client.get(url(small, "consensus/")).status_code == 409
    client.force_login(team.first)
    assert client.get(url(small, "consensus/")).status_code == 409
    client.force_login(team.second)
    client.post(url(small), form(HIGH_D2, c2_3="SECOND-ASSESSOR-QUOTE", action="submit"))
    assert Rob2Assessment.objects.filter(study=small.study, submitted_at__isnull=False).count() == 2
    # A submitted assessment is read-only.
    assert client.post(url(small), form(ALL_LOW, action="save")).status_code == 400
    consensus_page = client.get(url(small, "consensus/")).content.decode()
    assert "assessor-one" in consensus_page and "assessor-two" in consensus_page
    assert consensus_page.count("data-differs") >= 4  # 2.1, 2.2, 2.3 … and domain 2's judgments
    version = Review.objects.get(pk=small.review.pk).data_version
    refused = client.post(url(small, "consensus/"), form(HIGH_D2, override_overall=LOW, justification_overall=""))
    assert refused.status_code == 400 and "Give a justification" in refused.content.decode()
    assert client.post(url(small, "consensus/"), form(HIGH_D2)).status_code == 302
    consensus = Rob2Assessment.objects.get(study=small.study, is_consensus=True)
    assert consensus.overall == HIGH and consensus.assessor == team.second
    assert Review.objects.get(pk=small.review.pk).data_version == version + 1
    assert "recorded — compare or revise" in client.get(f"/reviews/{small.review.slug}/risk-of-bias/").content.decode()


def test_live_proposal(client, rob2_review, team):
    client.force_login(team.first)
    response = client.post(f"/reviews/{rob2_review.review.slug}/risk-of-bias/propose/",
                           form({**HIGH_D2, "3.1": ""}))
    body = json.loads(response.content)
    assert body["domains"]["deviations"]["proposed"] == HIGH
    assert body["domains"]["deviations"]["asked"] == ["2.1", "2.2", "2.3", "2.4", "2.5", "2.6"]
    assert body["domains"]["missing_data"] == {"proposed": None, "label": "Incomplete", "asked": ["3.1"],
                                               "missing": ["3.1"]}
    assert body["overall"]["proposed"] is None


def test_rob1_pages_and_the_manager_switches_the_tool(client, small, team):
    client.force_login(small.manager)
    assert client.post(f"/reviews/{small.review.slug}/risk-of-bias/", {"rob_tool": "nonsense"}).status_code == 400
    base = f"/reviews/{small.review.slug}/risk-of-bias/studies/{small.study.pk}/"
    judged = {f"judgment_{key}": "low" for key in ("random_sequence", "allocation_concealment", "blinding_participants",
                                                   "blinding_outcome", "incomplete_data", "selective_reporting", "other")}
    for user in (team.first, team.second):
        client.force_login(user)
        assert client.post(base, {**judged, "action": "submit"}).status_code == 302
    client.force_login(small.manager)
    assert client.post(base + "consensus/", {**judged, "judgment_other": ""}).status_code == 400
    assert client.post(base + "consensus/", judged).status_code == 302
    version = Review.objects.get(pk=small.review.pk).data_version
    client.post(f"/reviews/{small.review.slug}/risk-of-bias/", {"rob_tool": "ROB2"})
    review = Review.objects.get(pk=small.review.pk)
    assert review.rob_tool == "ROB2" and review.data_version == version + 1


def test_rob2_offers_each_result_with_data_generic_estimates_included(client, rob2_review, team):
    from studies import selectors
    from studies.models import DataType, EffectMeasure, Outcome, Study, StudyEstimate
    from studies.services import entity_save

    small = rob2_review
    hr = entity_save(instance=Outcome(
        review=small.review, domain=small.outcome.domain, name="Relapse (adjusted HR)", data_type=DataType.GENERIC,
        effect_measure=EffectMeasure.GENERIC, direction=small.outcome.direction, generic_measure="Hazard Ratio",
        log_scale=True))
    other = entity_save(instance=Study(review=small.review, label="Cohort 2018", year=2018))
    entity_save(instance=StudyEstimate(study=other, outcome=hr, time_point=small.time_point, estimate=-0.2, se=0.1))
    client.force_login(team.first)
    listing = client.get(f"/reviews/{small.review.slug}/risk-of-bias/").content.decode()
    assert "Cohort 2018" in listing and "Relapse (adjusted HR)" in listing
    review = Review.objects.get(pk=small.review.pk)
    assert selectors.rob_work(review=review, assessor=team.first).to_enter == 2  # Only 2020 × Self-stigma, too
