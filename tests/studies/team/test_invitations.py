"""Invitations (issue 18): a manager invites by e-mail, the link creates an account or adds the roles
to a signed-in one, works once and for 7 days, can be resent (the old link dies) or revoked; every
step is in the audit trail, and the link is never in it."""
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from studies.models import (
    EVENT_MODELS,
    Invitation,
    InvitationStatus,
    ReviewMembership,
    Role,
)
from studies.services import team as team_services
from studies.services.reviews import MANAGERS_GROUP, membership_add

PASSWORD = "a-long-new-password-42"
LINK = re.compile(r"https?://\S+/invitations/\S+/")


def _manager(small) -> Client:
    client = Client()
    client.force_login(small.manager)
    return client


def _invite(small, email="new.person@example.org", roles=("screener", "tutor")) -> str:
    """Invite through the team page; returns the link the mail carries."""
    response = _manager(small).post(f"/reviews/{small.review.slug}/team/invitations/",
                                    {"email": email, "roles": list(roles)})
    assert response.status_code == 302, response.content[:500]
    return _last_link()


def _last_link() -> str:
    from django.core import mail
    return LINK.search(mail.outbox[-1].body).group(0)


def _sign_up(link: str, username="newperson", password=PASSWORD, client: Client | None = None):
    client = client or Client()
    return client, client.post(link, {"username": username, "password1": password, "password2": password})


def test_invite_mail_accept_as_a_new_person_then_the_link_is_used_up(small, mailoutbox):
    link = _invite(small)
    message = mailoutbox[0]
    assert message.to == ["new.person@example.org"]
    for words in (small.review.title, "screener", "tutor", small.manager.username, link, "works once, until"):
        assert words in message.body

    client = Client()
    page = client.get(link)
    assert page.status_code == 200 and b"Create your account" in page.content and b"?next=/invitations/" in page.content
    client, response = _sign_up(link, client=client)
    assert response.status_code == 302 and response["Location"] == "/"
    person = get_user_model().objects.get(username="newperson")
    assert person.email == "new.person@example.org" and person.check_password(PASSWORD)
    assert set(ReviewMembership.objects.filter(review=small.review, user=person).values_list("role", flat=True)) == {
        Role.SCREENER, Role.TUTOR}
    assert int(client.session["_auth_user_id"]) == person.pk  # signed in
    assert not person.is_staff  # no manager role, no back office

    again = Client().get(link)
    assert again.status_code == 410 and "already accepted" in again.content.decode()
    _, reuse = _sign_up(link, username="someone-else")
    assert reuse.status_code == 410
    assert not get_user_model().objects.filter(username="someone-else").exists()
    with pytest.raises(team_services.InvitationUnusable):
        team_services.invitation_accept(token=link.rstrip("/").rsplit("/", 1)[1], username="x-person", password=PASSWORD)


def test_bad_account_details_write_nothing(small, mailoutbox):
    link = _invite(small)
    client = Client()
    mismatch = client.post(link, {"username": "newperson", "password1": PASSWORD, "password2": PASSWORD + "x"})
    assert mismatch.status_code == 400 and "The two passwords differ" in mismatch.content.decode()
    weak = client.post(link, {"username": "newperson", "password1": "short", "password2": "short"})
    assert weak.status_code == 400 and "too short" in weak.content.decode()
    taken = client.post(link, {"username": small.manager.username, "password1": PASSWORD, "password2": PASSWORD})
    assert taken.status_code == 400 and "username is taken" in taken.content.decode()
    assert not get_user_model().objects.filter(username="newperson").exists()
    assert Invitation.objects.get().status == InvitationStatus.PENDING
    assert "_auth_user_id" not in client.session


def test_an_expired_link_is_refused(small, mailoutbox):
    link = _invite(small)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    page = Client().get(link)
    assert page.status_code == 410 and "expired" in page.content.decode()
    assert small.manager.username in page.content.decode()  # whom to ask
    _, response = _sign_up(link)
    assert response.status_code == 410 and not get_user_model().objects.filter(username="newperson").exists()
    team_page = _manager(small).get(f"/reviews/{small.review.slug}/team/").content.decode()
    assert "Expired" in team_page and link not in team_page  # no dead link to copy


def test_a_revoked_link_is_refused(small, mailoutbox):
    link = _invite(small)
    invitation = Invitation.objects.get()
    response = _manager(small).post(f"/reviews/{small.review.slug}/team/invitations/{invitation.pk}/revoke/",
                                    follow=True)
    assert "revoked" in response.content.decode()
    page = Client().get(link)
    assert page.status_code == 410 and "withdrawn" in page.content.decode()
    _, accept = _sign_up(link)
    assert accept.status_code == 410 and not ReviewMembership.objects.filter(user__username="newperson").exists()


def test_resending_issues_a_fresh_link_and_the_old_one_stops_working(small, mailoutbox):
    old = _invite(small)
    invitation = Invitation.objects.get()
    Invitation.objects.update(expires_at=timezone.now() - timedelta(days=1))  # resend revives an expired one
    _manager(small).post(f"/reviews/{small.review.slug}/team/invitations/{invitation.pk}/resend/")
    assert len(mailoutbox) == 2
    new = _last_link()
    assert new != old
    assert Client().get(old).status_code == 404
    assert Client().get(new).status_code == 200
    assert Invitation.objects.get().expires_at > timezone.now() + timedelta(days=6)
    _, accepted = _sign_up(new)
    assert accepted.status_code == 302


def test_someone_signed_in_gets_the_roles_on_their_own_account(small, mailoutbox):
    existing = get_user_model().objects.create_user("existing", email="old@example.org", password=PASSWORD)
    link = _invite(small, email="existing.other@example.org", roles=["extractor"])
    client = Client()
    client.force_login(existing)
    page = client.get(link)
    assert page.status_code == 200 and "signed in as <strong>existing</strong>" in page.content.decode()
    users_before = get_user_model().objects.count()
    assert client.post(link).status_code == 302
    assert get_user_model().objects.count() == users_before
    assert list(ReviewMembership.objects.filter(review=small.review, user=existing).values_list("role", flat=True)) == [
        Role.EXTRACTOR]
    invitation = Invitation.objects.get()
    assert invitation.status == InvitationStatus.ACCEPTED and invitation.accepted_by == existing


def test_an_invited_manager_gets_the_back_office(small, mailoutbox):
    link = _invite(small, roles=["manager"])
    client, _ = _sign_up(link)
    person = get_user_model().objects.get(username="newperson")
    assert person.is_staff and person.groups.filter(name=MANAGERS_GROUP).exists()
    assert client.get("/admin/").status_code == 200
    assert client.get(f"/reviews/{small.review.slug}/team/").status_code == 200


def test_one_pending_invitation_per_address(small, mailoutbox):
    _invite(small)
    again = _manager(small).post(f"/reviews/{small.review.slug}/team/invitations/",
                                 {"email": "New.Person@example.org", "roles": ["screener"]})
    assert again.status_code == 400 and "already has a pending invitation" in again.content.decode()
    assert Invitation.objects.count() == 1 and len(mailoutbox) == 1
    no_role = _manager(small).post(f"/reviews/{small.review.slug}/team/invitations/", {"email": "x@example.org"})
    assert no_role.status_code == 400 and Invitation.objects.count() == 1


def test_only_managers_invite(api_review, mailoutbox):
    review = api_review.review
    screener = api_review.users["screener"]
    client = Client()
    client.force_login(screener)
    assert client.get(f"/reviews/{review.slug}/team/").status_code == 403
    assert client.post(f"/reviews/{review.slug}/team/invitations/",
                       {"email": "a@example.org", "roles": ["screener"]}).status_code == 403
    with pytest.raises(PermissionDenied):
        team_services.invitation_create(review=review, email="a@example.org", roles=["screener"], invited_by=screener,
                                        absolute_url=lambda path: path)
    issued = team_services.invitation_create(review=review, email="a@example.org", roles=["screener"],
                                             invited_by=api_review.users["manager"], absolute_url=lambda path: path)
    for call in (lambda: team_services.invitation_resend(invitation=issued.invitation, user=screener,
                                                         absolute_url=lambda path: path),
                 lambda: team_services.invitation_revoke(invitation=issued.invitation, user=screener)):
        with pytest.raises(PermissionDenied):
            call()
    assert len(mailoutbox) == 1 and Invitation.objects.get().status == InvitationStatus.PENDING

    outsider = Client()
    outsider.force_login(api_review.users["outsider"])
    assert outsider.get(f"/reviews/{review.slug}/team/").status_code == 404
    assert outsider.post(f"/reviews/{review.slug}/team/invitations/",
                         {"email": "b@example.org", "roles": ["screener"]}).status_code == 404
    assert Invitation.objects.count() == 1


def test_the_audit_trail_shows_invitations_and_memberships_but_never_the_link(small, mailoutbox):
    link = _invite(small)
    token = link.rstrip("/").rsplit("/", 1)[1]
    _sign_up(link)
    manager = _manager(small)
    answer = manager.get(f"/api/reviews/{small.review.slug}/audit/?entity=invitation&entity=membership")
    assert answer.status_code == 200
    events = answer.json()["results"]
    kinds = {(event["entity"], event["action"]) for event in events}
    assert {("invitation", "insert"), ("invitation", "update"), ("membership", "insert")} <= kinds
    accepted = next(e for e in events if e["entity"] == "invitation" and e["action"] == "update")
    assert accepted["old"]["status"] == "pending" and accepted["new"]["status"] == "accepted"
    roles_given = {e["new"]["role"] for e in events if e["entity"] == "membership" and e["action"] == "insert"}
    assert {"screener", "tutor"} <= roles_given
    text = answer.content.decode()
    key = Invitation.objects.get().link_key
    assert token not in text and key not in text and token.split(".")[1] not in text and "link_key" not in text


def test_every_event_table_is_append_only(small):
    tables = {model._meta.db_table for model in EVENT_MODELS.values()}
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                       "WHERE t.tgname = 'audit_event_append_only'")
        guarded = {row[0] for row in cursor.fetchall()}
    assert tables <= guarded, tables - guarded
    membership_add(review=small.review, user=get_user_model().objects.create_user("x-screener"), role=Role.SCREENER)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        EVENT_MODELS[ReviewMembership].objects.update(role="manager")
