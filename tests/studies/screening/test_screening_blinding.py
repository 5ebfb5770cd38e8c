"""Blinding: until a record is settled (the two screeners agree, or a tutor resolves their conflict),
nothing either screener can open shows anything of the other's decision: pages, API, figure, back
office, audit trail. And once both have decided, neither can change or withdraw their vote, so no
screener can learn the other's vote and match it. Checked with two identities."""
from django.core.cache import cache
from django.test import Client
import pytest

from studies import access
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
        "audit trail": f"/reviews/{slug}/audit/",
        "audit trail of the record": f"/reviews/{slug}/audit/?record={record.pk}",
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
    assert not access.decisions_visible(setup.s2, ScreeningDecision.objects.filter(record__review=setup.review)).exists()
    assert not access.decisions_visible(setup.s2).exists()
    assert access.decision_voters(setup.s2, setup.review, TA, record_ids=[blinded.pk]) == {}


def test_the_first_screener_sees_only_their_own(setup, blinded):
    s1 = client_for(setup.s1)
    body = s1.get(every_page(setup, blinded)["screen the record"]).content.decode()
    assert SECRET_NOTE in body and "Your decision" in body  # their own, so they can change it
    assert [d.screener for d in access.decisions_visible(setup.s1)] == [setup.s1]


def test_a_tutor_sees_who_voted_then_both_decisions_once_both_voted(setup, blinded):
    tutor = client_for(setup.tutor)
    page = tutor.get(f"/reviews/{setup.review.slug}/screening/title_abstract/conflicts/").content.decode()
    assert setup.s1.username in page  # who voted, in the awaiting list
    assert SECRET_NOTE not in page
    assert not access.decisions_visible(setup.tutor).exists()
    services.decision_record(record=blinded, stage=TA, screener=setup.s2, decision=Decision.INCLUDE, note="s2 note")
    page = tutor.get(f"/reviews/{setup.review.slug}/screening/title_abstract/conflicts/").content.decode()
    assert SECRET_NOTE in page and "s2 note" in page
    assert access.decisions_visible(setup.tutor).count() == 2


def test_a_conflict_stays_blind_to_both_screeners_until_a_tutor_resolves_it(setup, blinded):
    services.decision_record(record=blinded, stage=TA, screener=setup.s2, decision=Decision.INCLUDE)
    for screener in (setup.s1, setup.s2):  # both have voted, and disagree: still only their own
        assert [d.screener for d in access.decisions_visible(screener)] == [screener]
    # A third screener who did not decide this record sees none of it either.
    assert not access.decisions_visible(setup.s3).exists()
    services.resolution_record(record=blinded, stage=TA, tutor=setup.tutor, decision=Decision.INCLUDE,
                               rationale="Peer-led and randomised.")
    assert access.decisions_visible(setup.s2).count() == 2  # settled: the pair is open to the team
    assert access.decisions_visible(setup.s3).count() == 2


def test_an_agreement_is_settled_and_open_to_both(setup, blinded):
    services.decision_record(record=blinded, stage=TA, screener=setup.s2, decision=Decision.EXCLUDE)
    assert access.decisions_visible(setup.s1).count() == 2
    assert access.decisions_visible(setup.s2).count() == 2


def test_a_screener_cannot_read_the_other_vote_and_match_it(setup, blinded):
    """The attack: decide, read the other's vote and note through the API, then change or withdraw
    one's own to match, so the tutor never sees the conflict. Every step fails."""
    api = client_for(setup.s2)
    base = f"/api/reviews/{setup.review.slug}/decisions/"
    created = api.post(base, {"record": blinded.pk, "stage": TA, "decision": Decision.INCLUDE}, content_type="application/json")
    assert created.status_code == 201, created.content
    listed = api.get(base).json()
    assert [row["screener"] for row in listed["results"]] == [setup.s2.username]
    assert SECRET_NOTE not in api.get(base + f"?record={blinded.pk}").content.decode()
    mine = created.json()["id"]
    changed = api.patch(f"{base}{mine}/", {"decision": Decision.EXCLUDE}, content_type="application/json")
    assert changed.status_code == 400 and "Both screeners have decided" in changed.content.decode()
    assert api.delete(f"{base}{mine}/").status_code == 400
    undone = api.post(f"/reviews/{setup.review.slug}/screening/title_abstract/undo/")
    assert undone.status_code == 409
    # The conflict is still there, for the tutor.
    page = client_for(setup.tutor).get(f"/reviews/{setup.review.slug}/screening/title_abstract/conflicts/").content.decode()
    assert f'data-record="{blinded.pk}"' in page
    assert sorted(ScreeningDecision.objects.filter(record=blinded).values_list("decision", flat=True)) == ["exclude", "include"]


def test_the_audit_trail_keeps_an_unsettled_vote_blind(setup, blinded):
    """A manager who also screens reads the audit trail: the other's vote on an unsettled record is
    not in it, even after their own vote (the conflict), until a tutor resolves it."""
    services.decision_record(record=blinded, stage=TA, screener=setup.s2, decision=Decision.INCLUDE)
    trail = client_for(setup.s2).get(f"/api/reviews/{setup.review.slug}/audit/?entity=decision").content.decode()
    assert SECRET_NOTE not in trail
    services.resolution_record(record=blinded, stage=TA, tutor=setup.tutor, decision=Decision.EXCLUDE,
                               rationale="Not peer-led.")
    trail = client_for(setup.s2).get(f"/api/reviews/{setup.review.slug}/audit/?entity=decision").content.decode()
    assert SECRET_NOTE in trail


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
