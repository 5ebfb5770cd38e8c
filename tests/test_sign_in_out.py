"""The site header offers signing in to visitors, and signing out (by POST) to a signed-in user."""
from django.contrib.auth import get_user_model


def test_a_visitor_is_offered_sign_in(client, db):
    page = client.get("/").content.decode()
    assert 'href="/accounts/login/">Sign in</a>' in page
    assert "Sign out" not in page


def test_a_signed_in_user_sees_their_name_and_signs_out_by_post(client, db):
    user = get_user_model().objects.create_user("ada-screener", password="a-long-test-password")
    client.force_login(user)
    page = client.get("/").content.decode()
    assert "Signed in as ada-screener" in page and "Sign out</button>" in page
    assert ">Sign in</a>" not in page
    assert client.get("/accounts/logout/").status_code == 405  # a link cannot sign anyone out
    response = client.post("/accounts/logout/")
    assert (response.status_code, response["Location"]) == (302, "/")
    assert ">Sign in</a>" in client.get("/").content.decode()
