"""Two assessors (and an extractor) on the small review."""
from dataclasses import dataclass

from django.contrib.auth import get_user_model
import pytest

from studies.models import Role
from studies.services import membership_add


@dataclass
class Team:
    first: object
    second: object
    extractor: object


@pytest.fixture
def team(small) -> Team:
    users = get_user_model().objects
    first = users.create_user("assessor-one", password="a-long-test-password")
    second = users.create_user("assessor-two", password="a-long-test-password")
    extractor = users.create_user("extractor-only", password="a-long-test-password")
    membership_add(review=small.review, user=first, role=Role.ASSESSOR)
    membership_add(review=small.review, user=second, role=Role.ASSESSOR)
    membership_add(review=small.review, user=extractor, role=Role.EXTRACTOR)
    return Team(first, second, extractor)
