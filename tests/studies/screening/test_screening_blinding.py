"""Blinding: until both screeners have decided on a record, nothing either of them can open shows
anything of the other's decision: pages, API, figure, back office. Checked with two identities."""
from django.core.cache import cache
from django.test import Client
import pytest

from studies import selectors
from studies.models import Decision, ReviewMembership, Role, ScreeningDecision, Stage
from studies.services import membership_add
from studies.services import screening as services
from studies.services.reviews import managers_group_ensure

TA = Stage.TITLE_ABSTRACT
SECRET_NOTE = "S1-PRIVATE-NOTE-7f3a"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)  # (the sign-in itself, and its throttling, are tested in tests/test_security.py)
    return client


def every_page(setup, record) -> dict[str, str]:
    """Every page and endpoint of the review that touches decisions, by URL."""
    slug = setup.review.slug
    return {
        "screening home": f"/reviews/{slug}/screening/",
        "screen the record": f"/reviews/{slug}/screening/title_abstract/?record={record.pk}",
        "my next record": f"/reviews/{slug}/screening/title_abstract/",
        "the record after": f"/reviews/{slug}/screening/title_abstract/?after={setup.records[-1].pk}",
        "conflicts": f"/reviews/{slug}/screening/title_abstract/conflicts/",
        "agreement": f"/reviews/{slug}/screening/agreement/",
        "included": f"/reviews/{slug}/screening/included/",
        "prisma json": f"/api/reviews/{slug}/prisma/",
        "prisma svg": f"/reviews/{slug}/prisma.svg",
        "admin decisions": "/admin/studies/screeningdecision/",
        "admin record": f"/admin/studies/record/{record.pk}/change/",
    }


def shows_the_first_decision(body: str) -> bool:
    return SECRET_NOTE in body or "Your decision" in body or "Exclude</td>" in body


@pytest.fixture
def blinded(setup):
    """s1 has excluded record 0 with a private note; s2 has not decided it. s2 is also a manager with
    back-office access, the hardest case for blinding."""
    record = setup.records[0]
    services.decision_record(record=record, stage=TA, screener=setup.s1, decision=Decision.EXCLUDE, note=SECRET_NOTE)
    membership_add(review=setup.review, user=setup.s2, role=Role.MANAGER)
    setup.s2.is_staff = True
    setup.s2.save()
    setup.s2.groups.add(managers_group_ensure())
    return record


def test_the_second_screener_sees_nothing_of_the_first_decision_anywhere(setup, blinded):
    s2 = client_for(setup.s2)
    for name, url in every_page(setup, blinded).items():
        response = s2.get(url)
        assert response.status_code < 500, name
        body = response.content.decode()
        assert not shows_the_first_decision(body), f"{name} shows s1's decision to s2"
    # The screener's own views of decisions: none of s1's.
    assert not selectors.decisions_visible_to(user=setup.s2, review=setup.review).exists()
    assert not selectors.decisions_blinded_for(setup.s2, ScreeningDecision.objects.filter(record__review=setup.review)).exists()
    assert selectors.decision_voters(user=setup.s2, review=setup.review, stage=TA, record_ids=[blinded.pk]) == {}


def test_the_first_screener_sees_only_their_own(setup, blinded):
    s1 = client_for(setup.s1)
    body = s1.get(every_page(setup, blinded)["screen the record"]).content.decode()
    assert SECRET_NOTE in body and "Your decision" in body  # their own, so they can change it
    assert [d.screener for d in selectors.decisions_visible_to(user=setup.s1, review=setup.review)] == [setup.s1]


def test_a_tutor_sees_who_voted_then_both_decisions_once_both_voted(setup, blinded):
    tutor = client_for(setup.tutor)
    page = tutor.get(f"/reviews/{setup.review.slug}/screening/title_abstract/conflicts/").content.decode()
    assert setup.s1.username in page  # who voted, in the awaiting list
    assert SECRET_NOTE not in page
    assert not selectors.decisions_visible_to(user=setup.tutor, review=setup.review).exists()
    services.decision_record(record=blinded, stage=TA, screener=setup.s2, decision=Decision.INCLUDE, note="s2 note")
    page = tutor.get(f"/reviews/{setup.review.slug}/screening/title_abstract/conflicts/").content.decode()
    assert SECRET_NOTE in page and "s2 note" in page
    assert selectors.decisions_visible_to(user=setup.tutor, review=setup.review).count() == 2


def test_once_both_decided_each_screener_may_see_the_other(setup, blinded):
    services.decision_record(record=blinded, stage=TA, screener=setup.s2, decision=Decision.INCLUDE)
    assert selectors.decisions_visible_to(user=setup.s2, review=setup.review).count() == 2
    assert selectors.decisions_blinded_for(setup.s2, ScreeningDecision.objects.filter(record__review=setup.review)).count() == 2
    # A third screener who did not decide this record still sees none of it.
    assert not selectors.decisions_visible_to(user=setup.s3, review=setup.review).exists()


def test_review_progress_moves_by_one_whatever_the_other_decided(setup, blinded):
    """The review's progress counts decisions made, so deciding a record already decided by the other
    screener moves it exactly as deciding a fresh one does: no count tells agreement apart."""
    s2 = client_for(setup.s2)
    url = every_page(setup, blinded)["my next record"]

    def made(client):
        cache.clear()  # the review's figure is cached for a few seconds; read it fresh
        body = client.get(url).content.decode()
        return int(body.split("The review: ")[1].split(" of ")[0])

    before = made(s2)
    s2.post(url, {"record": blinded.pk, "decision": "exclude"})
    assert made(s2) == before + 1
    s2.post(url, {"record": setup.records[1].pk, "decision": "exclude"})
    assert made(s2) == before + 2


@pytest.mark.parametrize("who,expected", [("outsider", 404), ("extractor", 403), ("s1", 200)])
def test_deny_by_default(setup, who, expected):
    client = client_for(getattr(setup, who))
    slug = setup.review.slug
    assert client.get(f"/reviews/{slug}/screening/title_abstract/").status_code == expected
    assert client.get(f"/reviews/{slug}/screening/").status_code == expected
    # Unpublished review: its PRISMA counts do not exist outside the team.
    assert client.get(f"/api/reviews/{slug}/prisma/").status_code == (404 if who == "outsider" else 200)
    assert client.get(f"/reviews/{slug}/prisma.svg").status_code == (404 if who == "outsider" else 200)
    assert Client().get(f"/api/reviews/{slug}/prisma/").status_code == 404
    # Screeners do not reach the tutor's and managers' pages.
    for url in (f"/reviews/{slug}/screening/title_abstract/conflicts/", f"/reviews/{slug}/screening/agreement/",
                f"/reviews/{slug}/screening/included/"):
        assert client.get(url).status_code == (403 if who in ("s1", "extractor") else 404)
    assert ReviewMembership.objects.filter(review=setup.review).exists()
