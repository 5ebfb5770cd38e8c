"""A review with one user per role and one row of every entity the API serves."""
from dataclasses import dataclass

from django.contrib.auth import get_user_model
import pytest

from studies.models import (
    CharacteristicField, DataType, EffectMeasure, ExclusionReason, ImportBatch, Outcome, OutcomeSubgroup, Record,
    Review, Role, SearchSource, Stage, StudyCharacteristic, StudyEstimate,
)
from studies.services.entities import entity_save
from studies.services.reviews import membership_add, review_create
from studies.services.risk_of_bias import (
    rob1_assessment_save, rob1_consensus_save, rob2_assessment_save, rob2_consensus_save,
)
from studies.services.screening import decision_record, report_link, resolution_record
from tests.rob_entries import ALL_LOW, entry, rob1_entry

ROLES = [role.value for role in Role]


@dataclass
class ApiReview:
    review: Review
    users: dict  # "anonymous" → None, "outsider", one user per role, "screener-2" and "assessor-2"
    ids: dict  # URL segment → the id of one row of it in this review
    other: Review  # another review, with a study of its own


@pytest.fixture
def api_review(small) -> ApiReview:
    users_model = get_user_model()
    users = {"anonymous": None, "outsider": users_model.objects.create_user("outsider"),
             "manager": small.manager}
    for role in ROLES:
        if role != Role.MANAGER:
            users[role] = users_model.objects.create_user(f"api-{role}")
            membership_add(review=small.review, user=users[role], role=role)
    review = small.review
    source = entity_save(instance=SearchSource(review=review, database="Embase", date_searched="2024-01-02"))
    batch = entity_save(instance=ImportBatch(review=review, source=source, file_name="embase.ris", file_format="ris",
                                             sha256="0" * 64))
    record = entity_save(instance=Record(review=review, import_batch=batch, title="Peer support and stigma"))
    field = entity_save(instance=CharacteristicField(review=review, name="Country"))
    characteristic = entity_save(instance=StudyCharacteristic(study=small.study, field=field, value_text="Kenya"))
    other = review_create(title="Another review", slug="another-review", created_by=users["outsider"])
    # The second screener and assessor: blinding is between two people of the same role.
    for role in (Role.SCREENER, Role.ASSESSOR):
        users[f"{role}-2"] = users_model.objects.create_user(f"api-{role}-2")
        membership_add(review=review, user=users[f"{role}-2"], role=role)
    reason = entity_save(instance=ExclusionReason(review=review, label="Not randomised"))
    # A conflict at title/abstract, resolved by the tutor: both decisions visible to the team.
    decision = decision_record(record=record, stage=Stage.TITLE_ABSTRACT, screener=users["screener"],
                               decision="include")
    decision_record(record=record, stage=Stage.TITLE_ABSTRACT, screener=users["screener-2"], decision="exclude")
    resolution = resolution_record(record=record, stage=Stage.TITLE_ABSTRACT, tutor=users["tutor"],
                                   decision="exclude", rationale="Not a trial.")
    # A record included by both at both stages, linked to the study as its report.
    included = entity_save(instance=Record(review=review, import_batch=batch, title="Peer groups: a trial"))
    for stage in (Stage.TITLE_ABSTRACT, Stage.FULL_TEXT):
        for who in ("screener", "screener-2"):
            decision_record(record=included, stage=stage, screener=users[who], decision="include")
    report = report_link(record=included, user=small.manager, study=small.study)
    for who in ("assessor", "assessor-2"):
        rob1_assessment_save(study=small.study, assessor=users[who], entry=rob1_entry(), submit=True)
        rob2_assessment_save(study=small.study, outcome=small.outcome, assessor=users[who], entry=entry(ALL_LOW),
                             submit=True)
    rob1 = rob1_consensus_save(study=small.study, recorded_by=small.manager, entry=rob1_entry())
    rob2 = rob2_consensus_save(study=small.study, outcome=small.outcome, recorded_by=small.manager,
                               entry=entry(ALL_LOW))
    # A generic inverse-variance outcome (adjusted hazard ratios) with a subgroup and one estimate.
    generic = entity_save(instance=Outcome(
        review=review, domain=small.outcome.domain, name="Relapse (adjusted HR)", data_type=DataType.GENERIC,
        effect_measure=EffectMeasure.GENERIC, direction=small.outcome.direction, generic_measure="Hazard Ratio",
        log_scale=True))
    subgroup = entity_save(instance=OutcomeSubgroup(outcome=generic, name="Low dose"))
    estimate = entity_save(instance=StudyEstimate(study=small.study, outcome=generic, time_point=small.time_point,
                                                  subgroup=subgroup, estimate=-0.22, se=0.1))
    ids = {
        "outcome-subgroups": subgroup.pk, "study-estimates": estimate.pk,
        "team": review.memberships.get(user=small.manager).pk, "sources": source.pk, "imports": batch.pk,
        "records": record.pk, "studies": small.study.pk, "arms": small.intervention.pk,
        "characteristic-fields": field.pk, "characteristics": characteristic.pk,
        "outcome-domains": small.outcome.domain_id, "outcomes": small.outcome.pk,
        "time-points": small.time_point.pk, "outcome-data": small.data.pk,
        "exclusion-reasons": reason.pk, "decisions": decision.pk, "resolutions": resolution.pk,
        "reports": report.pk, "rob1-assessments": rob1.pk, "rob2-assessments": rob2.pk,
        "analysis": small.outcome.pk,  # analysis/outcomes/<pk>/history/
    }
    return ApiReview(review, users, ids, other)
