"""The cost of the one gate (``studies.access``), pinned: the review and the user's roles are read
once per request, whatever the door, and a second check in the same request costs nothing."""
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from studies import access
from studies.models import Role
from studies.services import membership_add


def queries(call) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        call()
    return [q["sql"] for q in captured.captured_queries]


def test_the_gate_reads_the_review_and_the_roles_once_per_request(small):
    request = RequestFactory().get("/")
    request.user = small.manager
    first = queries(lambda: access.review_for(request, small.review.slug, access.MANAGER))
    assert len(first) == 2  # the review by its slug, the user's roles in it
    assert queries(lambda: access.review_for(request, small.review.slug, access.TEAM)) == []


def test_the_cheapest_api_answer_costs_four_queries(small):
    """Token, review, roles, and the answer itself (the analysis state)."""
    reader = get_user_model().objects.create_user("gate-reader")
    membership_add(review=small.review, user=reader, role=Role.EXTRACTOR)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=reader).key}")
    url = f"/api/reviews/{small.review.slug}/analysis/version/"
    assert client.get(url).status_code == 200
    sql = queries(lambda: client.get(url))
    assert len(sql) == 4, sql


def test_a_team_page_gate_answers_403_in_three_queries_besides_the_session(small, client):
    """A member without the role: the review, their roles, the managers named in the 403."""
    outsider_role = get_user_model().objects.create_user("gate-extractor")
    membership_add(review=small.review, user=outsider_role, role=Role.EXTRACTOR)
    client.force_login(outsider_role)
    url = f"/reviews/{small.review.slug}/screening/"
    assert client.get(url).status_code == 403
    sql = queries(lambda: client.get(url))
    gate = [q for q in sql if not q.startswith(('SELECT "django_session"', 'SELECT "auth_user"."id"'))]
    assert len(gate) == 3, "\n".join(q[:160] for q in sql)
