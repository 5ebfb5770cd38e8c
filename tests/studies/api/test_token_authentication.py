"""The API's token check (reviewsite/authentication.py): DRF's answers, one statement, no memory
between requests (a deleted token or a deactivated user is refused by the very next request), and
the audit trail still names the token's user."""
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from reviewsite.authentication import TokenAuthentication


def version_url(small) -> str:
    return f"/api/reviews/{small.review.slug}/analysis/version/"


def test_a_token_authenticates_its_user_and_is_the_requests_auth(small, rf):
    token = Token.objects.create(user=small.manager)
    request = rf.get("/", HTTP_AUTHORIZATION=f"Token {token.key}")
    with CaptureQueriesContext(connection) as captured:
        user, auth = TokenAuthentication().authenticate(request)
    assert len(captured) == 1
    assert user == small.manager and user.username == small.manager.username and user.is_active
    assert isinstance(auth, Token) and auth.key == token.key and auth.user_id == small.manager.pk
    assert auth.created == token.created and auth.user is user
    assert APIClient(HTTP_AUTHORIZATION=f"Token {token.key}").get(version_url(small)).status_code == 200


def test_a_deleted_token_is_refused_by_the_next_request(small):
    token = Token.objects.create(user=small.manager)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(version_url(small)).status_code == 200
    token.delete()
    response = client.get(version_url(small))
    assert response.status_code == 401 and response.data["detail"] == "Invalid token."
    assert response["WWW-Authenticate"] == "Token"


def test_a_deactivated_users_token_is_refused_by_the_next_request(small):
    token = Token.objects.create(user=small.manager)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(version_url(small)).status_code == 200
    small.manager.is_active = False
    small.manager.save(update_fields=["is_active"])
    response = client.get(version_url(small))
    assert response.status_code == 401 and response.data["detail"] == "User inactive or deleted."


def test_a_write_with_a_token_names_its_user_in_the_audit_trail(api_review):
    extractor = api_review.users["extractor"]
    client = APIClient(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=extractor).key}")
    path = f"/api/reviews/{api_review.review.slug}/outcome-data/{api_review.ids['outcome-data']}/"
    assert client.patch(path, {"mean": -3.0}, format="json").status_code == 200
    manager = APIClient()
    manager.force_authenticate(api_review.users["manager"])
    latest = manager.get(f"/api/reviews/{api_review.review.slug}/audit/?entity=outcome-data").data["results"][0]
    assert (latest["action"], latest["user"], latest["url"]) == ("update", extractor.username, path)


def test_an_unknown_or_malformed_token_is_refused(small):
    for header in ("Token not-a-token", "Token", "Token two words"):
        response = APIClient(HTTP_AUTHORIZATION=header).get(version_url(small))
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"] == "Token"
