"""Password reset and change (issue 18) with Django's own views, and the reset throttle: per e-mail
address and per client address, answering the same whether or not the address has an account."""
import re

from django.contrib.auth import get_user_model
from django.test import Client, override_settings

PASSWORD = "a-long-new-password-42"
RESET_LINK = re.compile(r"https?://[^/\s]+(/accounts/reset/\S+/)")


def test_reset_by_mail_then_sign_in_with_the_new_password(small, mailoutbox):
    small.manager.email = "manager@example.org"
    small.manager.save()
    client = Client()
    login_page = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password_reset/"' in login_page and "Forgot your password?" in login_page
    asked = client.post("/accounts/password_reset/", {"email": "Manager@Example.org"})
    assert asked.status_code == 302 and asked["Location"] == "/accounts/password_reset/done/"
    assert len(mailoutbox) == 1 and small.manager.username in mailoutbox[0].body
    link = RESET_LINK.search(mailoutbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200 and "Choose a new password" in form.content.decode()
    done = client.post(form.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/accounts/reset/done/"
    assert client.get(link, follow=True).content.decode().count("This link does not work") == 1  # used up

    signed_in = Client().post("/accounts/login/", {"username": small.manager.username, "password": PASSWORD})
    assert signed_in.status_code == 302
    assert "_auth_user_id" in signed_in.wsgi_request.session


def test_change_password_when_signed_in(small):
    client = Client()
    assert client.get("/accounts/password_change/").status_code == 302  # to sign in
    client.force_login(small.manager)
    assert "Change your password" in client.get("/accounts/password_change/").content.decode()
    wrong = client.post("/accounts/password_change/", {"old_password": "not-it", "new_password1": PASSWORD,
                                                       "new_password2": PASSWORD})
    assert wrong.status_code == 200
    changed = client.post("/accounts/password_change/", {"old_password": "a-long-test-password",
                                                         "new_password1": PASSWORD, "new_password2": PASSWORD})
    assert changed.status_code == 302 and changed["Location"] == "/accounts/password_change/done/"
    small.manager.refresh_from_db()
    assert small.manager.check_password(PASSWORD)


@override_settings(PASSWORD_RESET_LIMIT=5)
def test_the_throttle_answers_429_alike_for_known_and_unknown_addresses(small, mailoutbox):
    get_user_model().objects.create_user("known", email="known@example.org", password=PASSWORD)
    answers = {}
    for address, client_address in (("known@example.org", "10.0.0.1"), ("nobody@example.org", "10.0.0.2")):
        client = Client(REMOTE_ADDR=client_address)
        answers[address] = [client.post("/accounts/password_reset/", {"email": address}) for _ in range(6)]
    for address, responses in answers.items():
        assert [r.status_code for r in responses] == [302] * 5 + [429], address
        assert "Try again after" in responses[-1].content.decode() and int(responses[-1]["Retry-After"]) > 0
    known, unknown = answers["known@example.org"][-1], answers["nobody@example.org"][-1]
    # Alike but for the address and the clock: the retry time moves on between the two sets of requests.
    alike = [re.sub(rb"Try again after [^<]*", b"", response.content.replace(address.encode(), b""))
             for response, address in ((known, "known@example.org"), (unknown, "nobody@example.org"))]
    assert alike[0] == alike[1]
    assert len(mailoutbox) == 5  # the known address's five; nothing for the sixth or the unknown one
    # Another address from a fresh client is not held back by someone else's requests.
    assert Client(REMOTE_ADDR="10.0.0.3").post("/accounts/password_reset/",
                                                 {"email": "other@example.org"}).status_code == 302


@override_settings(PASSWORD_RESET_LIMIT=3)
def test_one_client_asking_for_many_addresses_is_throttled(small):
    client = Client(REMOTE_ADDR="10.0.0.9")
    codes = [client.post("/accounts/password_reset/", {"email": f"person{i}@example.org"}).status_code
             for i in range(4)]
    assert codes == [302, 302, 302, 429]
