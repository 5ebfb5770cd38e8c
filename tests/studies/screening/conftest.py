"""A small review set up for screening: two screeners, a tutor, a manager, an extractor (a member
without a screening role), an outsider, three full-text exclusion reasons, records and a duplicate."""
from dataclasses import dataclass

from django.contrib.auth import get_user_model
import pytest

from studies.models import ExclusionReason, Record, Review, Role
from studies.services import entity_save, membership_add, review_create

PASSWORD = "a-long-test-password"


@dataclass
class ScreeningSetup:
    review: Review
    s1: object
    s2: object
    s3: object
    tutor: object
    manager: object
    extractor: object
    outsider: object
    reasons: list[ExclusionReason]
    records: list[Record]
    duplicate: Record


def build_screening_review(slug: str = "screening-review", n_records: int = 6, is_public: bool = False,
                           ) -> ScreeningSetup:
    users = get_user_model().objects
    make = {name: users.create_user(f"{slug}-{name}", password=PASSWORD)
            for name in ("s1", "s2", "s3", "tutor", "manager", "extractor", "outsider")}
    review = review_create(title=f"Screening review {slug}", slug=slug, created_by=make["manager"],
                           is_public=is_public, include_terms=["randomised", "peer"], exclude_terms=["qualitative"],
                           inclusion_criteria="Randomised trials of peer-led programmes.",
                           exclusion_reasons=())  # its own vocabulary, below
    for name in ("s1", "s2", "s3"):
        membership_add(review=review, user=make[name], role=Role.SCREENER)
    membership_add(review=review, user=make["tutor"], role=Role.TUTOR)
    membership_add(review=review, user=make["extractor"], role=Role.EXTRACTOR)
    reasons = [entity_save(instance=ExclusionReason(review=review, label=label, order=i))
               for i, label in enumerate(["Not randomised", "Not peer-led", "Wrong population"])]
    records = [entity_save(instance=Record(review=review, title=f"A randomised trial of peer support, record {i}",
                                           abstract=f"Abstract {i}: a qualitative component was included.",
                                           year=2020, journal="Journal of Tests", keywords=["peer", "stigma"]))
               for i in range(n_records)]
    duplicate = entity_save(instance=Record(review=review, title=records[0].title.upper(), year=2020,
                                            duplicate_of=records[0]))
    return ScreeningSetup(review, make["s1"], make["s2"], make["s3"], make["tutor"], make["manager"],
                          make["extractor"], make["outsider"], reasons, records, duplicate)


@pytest.fixture
def setup(db) -> ScreeningSetup:
    return build_screening_review()
