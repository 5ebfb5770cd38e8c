"""Hardening: login throttling per user and address with a cool-off, CSRF on every form, and the
security headers (a Content-Security-Policy that allows this site only)."""
from datetime import timedelta
import time

from django.contrib.auth import get_user_model
from django.test import Client, override_settings
import pytest

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"


def login(client: Client, username: str, password: str, address: str):
    """Log in through the admin's login form as a browser would (fetching the CSRF token first)."""
    client.get("/admin/login/", REMOTE_ADDR=address)
    token = client.cookies["csrftoken"].value
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password,
                                                       "csrfmiddlewaretoken": token}, REMOTE_ADDR=address)


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


@pytest.fixture
def staff():
    users = get_user_model().objects
    return (users.create_user("alice", password=PASSWORD, is_staff=True),
            users.create_user("bob", password=PASSWORD, is_staff=True))


def test_failed_logins_lock_out_that_user_from_that_address_only(staff):
    attacker = Client(enforce_csrf_checks=True)
    statuses = [login(attacker, "alice", "wrong-password-guess", "203.0.113.9").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]  # the fifth failure locks the pair out
    # Locked: even the right password is refused from that address, with 429 and no session.
    refused = login(attacker, "alice", PASSWORD, "203.0.113.9")
    assert refused.status_code == 429 and "_auth_user_id" not in attacker.session
    # Alice from her own address, and Bob from the attacker's, are not locked out.
    assert logged_in(login(Client(enforce_csrf_checks=True), "alice", PASSWORD, "198.51.100.7"))
    assert logged_in(login(Client(enforce_csrf_checks=True), "bob", PASSWORD, "203.0.113.9"))


def test_a_lockout_ends_after_the_cool_off(staff):
    client = Client(enforce_csrf_checks=True)
    with override_settings(AXES_COOLOFF_TIME=timedelta(seconds=1)):
        for _ in range(5):
            login(client, "alice", "wrong-password-guess", "203.0.113.10")
        assert login(client, "alice", PASSWORD, "203.0.113.10").status_code == 429
        time.sleep(1.2)
        assert logged_in(login(client, "alice", PASSWORD, "203.0.113.10"))


def test_posts_without_the_csrf_token_are_refused(staff, small):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/admin/login/", {"username": "alice", "password": PASSWORD}).status_code == 403
    client.force_login(small.manager)
    for path in (f"/reviews/{small.review.slug}/imports/", f"/reviews/{small.review.slug}/duplicates/1/",
                 "/admin/studies/review/add/"):
        assert client.post(path, {}).status_code == 403, path


def test_pages_carry_a_strict_content_security_policy(client, small):
    small.review.is_public = True
    small.review.save()
    for path in ("/", f"/reviews/{small.review.slug}/", "/admin/login/"):
        response = client.get(path)
        policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
        assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'", path
        assert policy["style-src"] == "'self'" and policy["object-src"] == "'none'", path
        assert policy["frame-ancestors"] == "'none'", path
        assert response["X-Content-Type-Options"] == "nosniff" and response["X-Frame-Options"] == "DENY", path
