"""A review with one user per role and one row of every entity the API serves."""
from dataclasses import dataclass

from django.contrib.auth import get_user_model
import pytest

from studies.models import (
    CharacteristicField, ImportBatch, Record, Review, Role, SearchSource, StudyCharacteristic,
)
from studies.services.entities import entity_save
from studies.services.reviews import membership_add, review_create

ROLES = [role.value for role in Role]


@dataclass
class ApiReview:
    review: Review
    users: dict  # "anonymous" → None, "outsider", and one user per role
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
    ids = {
        "team": review.memberships.get(user=small.manager).pk, "sources": source.pk, "imports": batch.pk,
        "records": record.pk, "studies": small.study.pk, "arms": small.intervention.pk,
        "characteristic-fields": field.pk, "characteristics": characteristic.pk,
        "outcome-domains": small.outcome.domain_id, "outcomes": small.outcome.pk,
        "time-points": small.time_point.pk, "outcome-data": small.data.pk,
    }
    return ApiReview(review, users, ids, other)
