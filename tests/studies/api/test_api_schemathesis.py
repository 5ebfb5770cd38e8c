"""Schemathesis against the live OpenAPI schema, as a manager of a review: for every operation, a
fixed seed and a bounded number of generated requests; no answer may be a server error, and every
documented answer must match its schema.

The operations are walked here rather than through ``schemathesis.pytest.from_fixture``, whose lazy
parametrisation does not run under pytest 9.
"""
from hypothesis import HealthCheck, Phase, given, seed, settings
import pytest
from rest_framework.authtoken.models import Token
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EXAMPLES_PER_OPERATION = 6


def test_api_answers_conform_and_never_fail(live_server, api_review):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")
    token, _ = Token.objects.get_or_create(user=api_review.users["manager"])
    headers = {"Authorization": f"Token {token.key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50  # every endpoint × method the schema documents

    for operation in operations:
        @seed(20261124)
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            if "slug" in (case.path_parameters or {}):
                case.path_parameters["slug"] = api_review.review.slug  # the manager's review, so requests get in
            if "pk" in (case.path_parameters or {}):  # a row of the review, so detail operations get in too
                segment = case.path.removeprefix("/api/reviews/{slug}/").split("/")[0]
                case.path_parameters["pk"] = api_review.ids[segment]
            case.call_and_validate(base_url=live_server.url, headers=headers,
                                   checks=[not_a_server_error, response_schema_conformance])

        check()
