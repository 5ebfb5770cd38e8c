"""The team tests use the API tests' review: one user per role and a row of every kind of work."""
from tests.studies.api.conftest import api_review  # noqa: F401 -- the fixture, shared
