"""Shared fixtures. The test database is the machine's PostgreSQL (or a private one, see
``reviewsite/embedded.py``); the demo review is loaded once per session so that admin pages are
exercised on realistic volumes, and every test runs in a transaction that is rolled back."""
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.cache import caches
import pytest

from studies.models import (
    Arm,
    ArmRole,
    DataType,
    EffectMeasure,
    Outcome,
    OutcomeData,
    OutcomeDomain,
    Review,
    Role,
    Study,
    TimePoint,
)
from studies.services import entity_save, membership_add, review_create
from studies.services.reviews import managers_group_ensure
from studies.services.demo import DEMO_SLUG, demo_review_load

DEMO_PASSWORD = "synthetic-demo-review"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        demo_review_load(password=DEMO_PASSWORD)


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with empty caches (reader pages are cached per process)."""
    for alias in ("default", "pages"):
        caches[alias].clear()


@pytest.fixture
def demo_review(db) -> Review:
    return Review.objects.get(slug=DEMO_SLUG)


@dataclass
class SmallReview:
    """A minimal review with one study of two arms and one continuous outcome."""

    review: Review
    manager: object
    study: Study
    intervention: Arm
    control: Arm
    outcome: Outcome
    time_point: TimePoint
    data: OutcomeData


@pytest.fixture
def small(db) -> SmallReview:
    user_model = get_user_model()
    manager = user_model.objects.create_user("small-manager", password="a-long-test-password", is_staff=True)
    manager.groups.add(managers_group_ensure())
    review = review_create(title="Small review", slug="small-review", created_by=manager)
    study = entity_save(instance=Study(review=review, label="Only 2020", year=2020))
    intervention = entity_save(instance=Arm(study=study, role=ArmRole.INTERVENTION, label="Peer group", randomised=40))
    control = entity_save(instance=Arm(study=study, role=ArmRole.CONTROL, label="Usual care", randomised=40))
    domain = entity_save(instance=OutcomeDomain(review=review, name="Stigma"))
    outcome = entity_save(instance=Outcome(
        review=review, domain=domain, name="Self-stigma", data_type=DataType.CONTINUOUS,
        effect_measure=EffectMeasure.SMD, direction="lower",
    ))
    time_point = TimePoint.objects.get(review=review, is_analysis_default=True)
    data = entity_save(instance=OutcomeData(
        study=study, outcome=outcome, time_point=time_point, arm=intervention, n=38, mean=-4.2, sd=6.1,
    ))
    entity_save(instance=OutcomeData(study=study, outcome=outcome, time_point=time_point, arm=control, n=39, mean=-1.0, sd=5.8))
    membership_add(review=review, user=manager, role=Role.MANAGER)
    return SmallReview(review, manager, study, intervention, control, outcome, time_point, data)
