"""Two uses of one invitation link at the same moment (real threads, each with its own PostgreSQL
connection and transaction): one account, one set of roles; the other use is refused."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import override_settings

from studies.models import Invitation, InvitationStatus, ReviewMembership
from studies.services import team as team_services
from studies.services.reviews import review_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PASSWORD = "a-long-new-password-42"


# A real password hash (a few hundred milliseconds, outside the interpreter lock) between reading the
# invitation and writing the account: without the row lock both uses would pass the "pending" check.
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"])
def test_a_link_used_twice_at_once_makes_one_account():
    manager = get_user_model().objects.create_user("race-manager")
    review = review_create(title="Race review", slug="race-review", created_by=manager)
    issued = team_services.invitation_create(review=review, email="racer@example.org", roles=["screener", "tutor"],
                                             invited_by=manager, absolute_url=lambda path: path)
    token = issued.link.rstrip("/").rsplit("/", 1)[1]
    barrier = threading.Barrier(2)

    def accept(username: str) -> str:
        try:
            barrier.wait(timeout=10)
            team_services.invitation_accept(token=token, username=username, password=PASSWORD)
            return "ok"
        except team_services.InvitationUnusable as unusable:
            return f"refused: {unusable.state}"
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(accept, ["racer-one", "racer-two"]))
    assert outcomes == ["ok", "refused: accepted"]
    assert get_user_model().objects.filter(email="racer@example.org").count() == 1
    person = get_user_model().objects.get(email="racer@example.org")
    assert ReviewMembership.objects.filter(review=review).exclude(user=manager).count() == 2
    assert set(ReviewMembership.objects.filter(user=person).values_list("role", flat=True)) == {"screener", "tutor"}
    invitation = Invitation.objects.get()
    assert invitation.status == InvitationStatus.ACCEPTED and invitation.accepted_by == person
