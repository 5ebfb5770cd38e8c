"""Two extractors (and an assessor without the extractor role) on the small review."""
from dataclasses import dataclass

from django.contrib.auth import get_user_model
import pytest

from studies.models import Role
from studies.services import membership_add

PASSWORD = "a-long-test-password"


@dataclass
class Extractors:
    first: object
    second: object
    outsider_role: object


@pytest.fixture
def extractors(small) -> Extractors:
    users = get_user_model().objects
    first = users.create_user("extractor-one", password=PASSWORD)
    second = users.create_user("extractor-two", password=PASSWORD)
    assessor = users.create_user("assessor-only", password=PASSWORD)
    membership_add(review=small.review, user=first, role=Role.EXTRACTOR)
    membership_add(review=small.review, user=second, role=Role.EXTRACTOR)
    membership_add(review=small.review, user=assessor, role=Role.ASSESSOR)
    return Extractors(first, second, assessor)


@pytest.fixture
def cell(small):
    """The form-field name of one cell of the small review's grid (default time point)."""
    return lambda arm, attr: f"cell_{small.outcome.pk}_{small.time_point.pk}_{arm.pk}_{attr}"
