"""The API tests' review (one user per role, one row of every entity) serves the audit page's tests."""
from tests.studies.api.conftest import api_review  # noqa: F401  (a fixture, shared)
