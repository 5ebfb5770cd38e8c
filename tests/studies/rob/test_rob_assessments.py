"""Dual risk-of-bias assessment through the services: drafts and submission, overrides that need a
justification (in the service and in the database), blinding between assessors in the selectors,
and the consensus, which alone moves the review's data version."""
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
import pytest

from studies import access, selectors
from studies.models import Review, RiskOfBiasAssessment, Rob2Assessment, Rob2DomainJudgment, Role
from studies.rob2 import HIGH, LOW, NI, SOME_CONCERNS, Y
from studies.services.reviews import membership_add
from studies.services.risk_of_bias import (
    Override,
    rob1_assessment_save,
    rob1_consensus_save,
    rob2_assessment_save,
    rob2_consensus_save,
)

from rob_entries import ALL_LOW, HIGH_D2, SOME_D1, entry, rob1_entry


def version(small) -> int:
    return Review.objects.get(pk=small.review.pk).data_version


def test_the_algorithm_proposes_and_the_proposal_is_stored(small, team):
    saved = rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.first,
                                 entry=entry(HIGH_D2), submit=True)
    domains = {d.domain: d.proposed for d in saved.domains.all()}
    assert domains == {"randomisation": LOW, "deviations": HIGH, "missing_data": LOW, "measurement": LOW,
                       "selection": SOME_CONCERNS}
    assert saved.overall_proposed == HIGH and saved.overall == HIGH
    answers = {a.question: a.answer for a in saved.answers.all()}
    assert answers["2.3"] == Y and answers["2.7"] == "NA"  # 2.7 does not apply after 2.6 = Yes
    assert saved.submitted_at is not None


def test_a_draft_may_be_incomplete_but_a_submission_names_the_missing_questions(small, team):
    partial = {k: v for k, v in HIGH_D2.items() if k not in ("2.4", "3.1")}
    draft = rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.first, entry=entry(partial))
    assert draft.submitted_at is None and draft.overall_proposed == ""
    assert Rob2DomainJudgment.objects.get(assessment=draft, domain="deviations").proposed == ""
    with pytest.raises(ValidationError) as refused:
        rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.first, entry=entry(partial),
                             submit=True)
    assert set(refused.value.message_dict) == {"q2_4", "q3_1"}
    assert Rob2Assessment.objects.get(pk=draft.pk).submitted_at is None  # nothing half-written


def test_bad_answers_are_refused_naming_the_field(small, team):
    with pytest.raises(ValidationError) as refused:
        rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.first,
                             entry=entry({**ALL_LOW, "3.1": "N", "3.2": NI}))
    assert "q3_2" in refused.value.message_dict
    assert not Rob2Assessment.objects.filter(study=small.study).exists()


def test_an_override_needs_a_justification_in_the_service_and_in_the_database(small, team):
    with pytest.raises(ValidationError) as refused:
        rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.first,
                             entry=entry(SOME_D1, overall=Override(HIGH, "   ")))
    assert "justification_overall" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.first,
                             entry=entry(SOME_D1, {"randomisation": Override(LOW, "")}))
    assert "justification_randomisation" in refused.value.message_dict
    saved = rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.first, submit=True,
                                 entry=entry(SOME_D1, {"randomisation": Override(LOW, "Central allocation, per "
                                                                                  "the protocol.")}))
    assert saved.overall_proposed == LOW  # the override counts in the overall proposal
    for bad in (dict(overall_override=HIGH, overall_justification=" "),):
        with pytest.raises(IntegrityError), transaction.atomic():
            Rob2Assessment.objects.filter(pk=saved.pk).update(**bad)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rob2DomainJudgment.objects.filter(assessment=saved).update(override=HIGH, justification="")


def test_several_some_concerns_can_be_judged_high_overall_with_a_reason(small, team):
    answers = {**SOME_D1, "5.1": NI, "3.1": "N", "3.2": "N", "3.3": Y, "3.4": "N"}
    saved = rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.first, submit=True,
                                 entry=entry(answers, overall=Override(HIGH, "Three domains with concerns.")))
    assert saved.overall_proposed == SOME_CONCERNS and saved.overall == HIGH


def test_a_submitted_assessment_is_locked(small, team):
    rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.first, entry=entry(ALL_LOW),
                         submit=True)
    with pytest.raises(ValidationError, match="submitted"):
        rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.first, entry=entry(HIGH_D2))
    assert Rob2Assessment.objects.get(assessor=team.first).overall == LOW


def test_only_assessors_assess(small, team):
    for user in (team.extractor, small.manager):
        with pytest.raises(PermissionDenied):
            rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=user, entry=entry(ALL_LOW))
        with pytest.raises(PermissionDenied):
            rob1_assessment_save(study=small.study, assessor=user, entry=rob1_entry())


def visible(user, review) -> set[tuple[str, bool]]:
    return {(a.assessor.username, a.is_consensus) for a in access.rob2_assessments_visible(user, selectors.rob2_assessments(review))}


def test_assessors_are_blinded_until_both_have_submitted(small, team):
    review = small.review
    rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.first, entry=entry(ALL_LOW),
                         submit=True)
    rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.second, entry=entry(HIGH_D2))
    # The second assessor's draft hides the first's submitted answers, and the draft is hidden too.
    assert visible(team.second, review) == {("assessor-two", False)}
    assert visible(team.first, review) == {("assessor-one", False)}
    assert visible(small.manager, review) == set()  # one submission is not "both"
    rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.second, entry=entry(HIGH_D2),
                         submit=True)
    both = {("assessor-one", False), ("assessor-two", False)}
    assert visible(team.first, review) == visible(team.second, review) == visible(small.manager, review) == both


def test_rob1_blinding_follows_the_same_rule(small, team):
    rob1_assessment_save(study=small.study, assessor=team.first, entry=rob1_entry(), submit=True)
    rob1_assessment_save(study=small.study, assessor=team.second, entry=rob1_entry(other="unclear"))
    assert [a.assessor for a in access.rob1_assessments_visible(team.second, selectors.rob1_assessments(small.review))] == [team.second]
    rob1_assessment_save(study=small.study, assessor=team.second, entry=rob1_entry(other="unclear"), submit=True)
    assert len(access.rob1_assessments_visible(team.second, selectors.rob1_assessments(small.review))) == 2


def test_a_third_assessor_with_a_draft_does_not_see_the_consensus(small, team):
    """The consensus holds the other assessors' judgments: it is blinded like them."""
    third = get_user_model().objects.create_user("assessor-three")
    membership_add(review=small.review, user=third, role=Role.ASSESSOR)
    rob1_assessment_save(study=small.study, assessor=team.first, entry=rob1_entry(), submit=True)
    rob1_assessment_save(study=small.study, assessor=team.second, entry=rob1_entry(), submit=True)
    rob1_consensus_save(study=small.study, recorded_by=team.first, entry=rob1_entry())
    rob1_assessment_save(study=small.study, assessor=third, entry=rob1_entry(other="high"))  # a draft
    seen = access.rob1_assessments_visible(third, selectors.rob1_assessments(small.review))
    assert [(a.assessor, a.is_consensus) for a in seen] == [(third, False)]
    rob1_assessment_save(study=small.study, assessor=third, entry=rob1_entry(other="high"), submit=True)
    assert sum(a.is_consensus for a in access.rob1_assessments_visible(third, selectors.rob1_assessments(small.review))) == 1
    assert sum(a.is_consensus for a in access.rob1_assessments_visible(team.first, selectors.rob1_assessments(small.review))) == 1


def test_consensus_flow_and_only_the_consensus_moves_the_data_version(small, team):
    start = version(small)
    rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.first, entry=entry(ALL_LOW),
                         submit=True)
    with pytest.raises(ValidationError, match="two assessors"):
        rob2_consensus_save(study=small.study, outcome=small.outcome, recorded_by=team.first, entry=entry(ALL_LOW))
    rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.second, entry=entry(HIGH_D2),
                         submit=True)
    assert version(small) == start  # assessors' own assessments are not analysis inputs
    with pytest.raises(PermissionDenied):
        rob2_consensus_save(study=small.study, outcome=small.outcome, recorded_by=team.extractor, entry=entry(ALL_LOW))
    with pytest.raises(ValidationError):  # the consensus is complete
        rob2_consensus_save(study=small.study, outcome=small.outcome, recorded_by=team.second,
                            entry=entry({"1.1": Y}))
    consensus = rob2_consensus_save(study=small.study, outcome=small.outcome, recorded_by=team.second,
                                    entry=entry(SOME_D1))
    assert consensus.is_consensus and consensus.overall == SOME_CONCERNS and consensus.assessor == team.second
    assert version(small) == start + 1
    # A manager (arbiter) revises it: the same row, and the version moves again.
    revised = rob2_consensus_save(study=small.study, outcome=small.outcome, recorded_by=small.manager,
                                  entry=entry(ALL_LOW))
    assert revised.pk == consensus.pk and revised.overall == LOW
    assert version(small) == start + 2
    assert Rob2Assessment.objects.filter(study=small.study, is_consensus=True).count() == 1


def test_rob1_consensus_needs_every_domain(small, team):
    for user in (team.first, team.second):
        rob1_assessment_save(study=small.study, assessor=user, entry=rob1_entry(), submit=True)
    start = version(small)
    with pytest.raises(ValidationError) as refused:
        rob1_consensus_save(study=small.study, recorded_by=team.first, entry=rob1_entry(other=""))
    assert "judgment_other" in refused.value.message_dict
    rob1_consensus_save(study=small.study, recorded_by=team.first, entry=rob1_entry())
    assert RiskOfBiasAssessment.objects.get(study=small.study, is_consensus=True).judgments.count() == 7
    assert version(small) == start + 1


def test_the_admin_shows_rob2_read_only_and_blinded(client, small, team):
    rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.first, entry=entry(ALL_LOW),
                         submit=True)
    client.force_login(small.manager)
    listing = client.get("/admin/studies/rob2assessment/")
    assert listing.status_code == 200 and "assessor-one" not in listing.content.decode()  # one submission only
    rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=team.second, entry=entry(HIGH_D2),
                         submit=True)
    page = client.get("/admin/studies/rob2assessment/").content.decode()
    assert "assessor-one" in page and "assessor-two" in page
    assessment = Rob2Assessment.objects.get(assessor=team.first)
    detail = client.get(f"/admin/studies/rob2assessment/{assessment.pk}/change/").content.decode()
    assert "Randomisation" in detail and 'name="overall_override"' not in detail  # read-only
    assert client.get("/admin/studies/rob2assessment/add/").status_code == 403
