"""Writes go through services: validation, one transaction, and the review's data version moves
exactly when an analysis input changes (the ledger the living analysis relies on)."""
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
import pytest

from studies.models import Arm, ArmRole, OutcomeData, Record, Review, Study
from studies.services import entities_create, entities_delete, entity_delete, entity_save


def version(review: Review) -> int:
    return Review.objects.values_list("data_version", flat=True).get(pk=review.pk)


def test_changing_outcome_data_moves_the_data_version(small):
    before = version(small.review)
    small.data.mean = -5.0
    entity_save(instance=small.data)
    assert version(small.review) == before + 1
    assert OutcomeData.objects.get(pk=small.data.pk).mean == -5.0


def test_refused_change_writes_nothing_and_keeps_the_version(small):
    before = version(small.review)
    small.data.sd = -1.0
    with pytest.raises(ValidationError):
        entity_save(instance=small.data)
    assert version(small.review) == before
    assert OutcomeData.objects.get(pk=small.data.pk).sd == 6.1


def test_bibliographic_changes_do_not_move_the_data_version(small):
    before = version(small.review)
    entity_save(instance=Record(review=small.review, title="A new record"))
    small.review.title = "Renamed review"
    entity_save(instance=small.review)
    assert version(small.review) == before


def test_analysis_settings_move_the_data_version(small):
    before = version(small.review)
    small.review.i2_threshold = 40.0
    entity_save(instance=small.review)
    assert version(small.review) == before + 1


def test_deleting_an_arm_moves_the_version_and_cascades_its_data(small):
    before = version(small.review)
    entity_delete(instance=small.control)
    assert version(small.review) == before + 1
    assert not OutcomeData.objects.filter(arm_id=small.control.pk).exists()


def test_bulk_delete_moves_each_review_once(small, demo_review):
    before_small, before_demo = version(small.review), version(demo_review)
    expected = OutcomeData.objects.filter(study__review__in=[small.review, demo_review]).count()
    deleted = entities_delete(queryset=OutcomeData.objects.filter(study__review__in=[small.review, demo_review]))
    assert deleted == expected > 2
    assert version(small.review) == before_small + 1
    assert version(demo_review) == before_demo + 1


def test_bulk_create_refuses_an_invalid_row_before_writing(small):
    good = Arm(study=small.study, role=ArmRole.CONTROL, label="Waiting list", randomised=20)
    bad = Arm(study=small.study, role=ArmRole.CONTROL, label="Active control", randomised=0)
    with pytest.raises(ValidationError) as caught:
        entities_create(instances=[good, bad])
    assert "randomised" in caught.value.message_dict
    assert not Arm.objects.filter(study=small.study, label="Waiting list").exists()


def test_bulk_create_is_all_or_nothing_when_the_database_refuses_a_row(small):
    """Uniqueness is left to the database: one clashing row and none of the batch is written."""
    before = Review.objects.get(pk=small.review.pk).data_version
    good = Arm(study=small.study, role=ArmRole.CONTROL, label="Waiting list", randomised=20)
    clash = Arm(study=small.study, role=ArmRole.CONTROL, label=small.control.label, randomised=20)
    with pytest.raises(IntegrityError), transaction.atomic():
        entities_create(instances=[good, clash])
    assert not Arm.objects.filter(study=small.study, label="Waiting list").exists()
    assert Review.objects.get(pk=small.review.pk).data_version == before


def test_bulk_create_refuses_mixed_models(small):
    with pytest.raises(TypeError):
        entities_create(instances=[Study(review=small.review, label="X"), Record(review=small.review, title="Y")])


def test_saving_a_stale_copy_of_the_review_keeps_the_newer_data_version(small):
    stale = Review.objects.get(pk=small.review.pk)
    small.data.mean = 0.5
    entity_save(instance=small.data)
    newer = version(small.review)
    stale.title = "Edited in another tab"
    entity_save(instance=stale)
    assert version(small.review) == newer
    assert stale.data_version == newer


def test_a_new_review_can_exclude_full_texts_from_the_start(db):
    from studies.models import ExclusionReason
    from studies.services.reviews import DEFAULT_EXCLUSION_REASONS, review_create

    review = review_create(title="A new review", slug="a-new-review")
    assert list(ExclusionReason.objects.filter(review=review).values_list("label", flat=True)) == list(
        DEFAULT_EXCLUSION_REASONS)
    assert not ExclusionReason.objects.filter(review=review_create(title="Own", slug="own", exclusion_reasons=())).exists()
