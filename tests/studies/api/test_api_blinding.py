"""Blinding through the API, with two screeners (and two assessors): until both decided, nothing of
one's vote reaches the other by any endpoint — lists, details, counts, filters, ordering, the
resolutions and the audit trail — nor reaches a manager who also screens through the trail.
Also: writable serializers accept only what the role may set (mass assignment)."""
import pytest
from rest_framework.test import APIClient

from studies.models import (
    Record, RiskOfBiasAssessment, Role, ScreeningDecision, Stage,
)
from studies.services.entities import entity_save
from studies.services.reviews import membership_add
from studies.services.risk_of_bias import rob1_assessment_save
from tests.rob_entries import rob1_entry


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def fresh_record(api_review) -> Record:
    batch = Record.objects.get(pk=api_review.ids["records"]).import_batch
    return entity_save(instance=Record(review=api_review.review, import_batch=batch, title="Undecided so far"))


def _everything_seen(client: APIClient, slug: str, record: Record) -> str:
    """Every answer a screener can get about decisions, concatenated: what must not mention B's vote."""
    base = f"/api/reviews/{slug}"
    answers = [
        client.get(f"{base}/decisions/?page_size=1000"),
        client.get(f"{base}/decisions/?record={record.pk}"),
        client.get(f"{base}/decisions/?decision=exclude&record={record.pk}"),
        client.get(f"{base}/decisions/?ordering=-updated_at&page_size=1"),
        client.get(f"{base}/resolutions/?record={record.pk}"),
        client.get(f"{base}/prisma/"),
    ]
    return " ".join(str(response.data) for response in answers)


def test_a_screener_sees_nothing_of_the_others_vote_until_the_record_is_settled(api_review, fresh_record):
    slug, a, b = api_review.review.slug, api_review.users["screener"], api_review.users["screener-2"]
    before = client_for(a).get(f"/api/reviews/{slug}/decisions/").data["count"]
    response = client_for(b).post(f"/api/reviews/{slug}/decisions/",
                                  {"record": fresh_record.pk, "stage": Stage.TITLE_ABSTRACT, "decision": "exclude",
                                   "note": "secret-note-of-b"}, format="json")
    assert response.status_code == 201, response.data
    b_decision = response.data["id"]
    seen = client_for(a)
    assert seen.get(f"/api/reviews/{slug}/decisions/").data["count"] == before  # counts too
    assert seen.get(f"/api/reviews/{slug}/decisions/{b_decision}/").status_code == 404
    assert seen.get(f"/api/reviews/{slug}/decisions/?record={fresh_record.pk}").data["count"] == 0
    assert "secret-note-of-b" not in _everything_seen(seen, slug, fresh_record)
    assert seen.patch(f"/api/reviews/{slug}/decisions/{b_decision}/", {"note": "x"}, format="json").status_code == 404
    # Once A decided too and they agree, the record is settled: both see both. (Had they disagreed,
    # neither would see the other's until the tutor resolves it: tests/studies/screening.)
    assert seen.post(f"/api/reviews/{slug}/decisions/", {"record": fresh_record.pk, "stage": Stage.TITLE_ABSTRACT,
                                                         "decision": "exclude"}, format="json").status_code == 201
    assert seen.get(f"/api/reviews/{slug}/decisions/{b_decision}/").data["note"] == "secret-note-of-b"
    assert seen.get(f"/api/reviews/{slug}/decisions/?record={fresh_record.pk}").data["count"] == 2


def test_tutors_and_managers_see_a_vote_only_once_two_are_in(api_review, fresh_record):
    slug = api_review.review.slug
    client_for(api_review.users["screener-2"]).post(
        f"/api/reviews/{slug}/decisions/", {"record": fresh_record.pk, "stage": Stage.TITLE_ABSTRACT,
                                            "decision": "exclude"}, format="json")
    for who in ("tutor", "manager"):
        listed = client_for(api_review.users[who]).get(f"/api/reviews/{slug}/decisions/?record={fresh_record.pk}")
        assert listed.data["count"] == 0, who


def test_the_audit_trail_hides_undecided_votes_from_a_manager_who_screens(api_review, fresh_record):
    slug, manager = api_review.review.slug, api_review.users["manager"]
    membership_add(review=api_review.review, user=manager, role=Role.SCREENER)
    b_client = client_for(api_review.users["screener-2"])
    decided = b_client.post(f"/api/reviews/{slug}/decisions/", {"record": fresh_record.pk, "stage": "title_abstract",
                                                                "decision": "exclude", "note": "secret-of-b"},
                            format="json").data["id"]
    b_client.patch(f"/api/reviews/{slug}/decisions/{decided}/", {"note": "still-secret"}, format="json")
    trail = client_for(manager).get(f"/api/reviews/{slug}/audit/?entity=decision&page_size=1000").data
    assert decided not in {event["object_id"] for event in trail["results"]}
    assert "secret" not in str(trail)
    # Once the second screener decides, the whole history of both votes is there, with who changed what.
    client_for(api_review.users["screener"]).post(
        f"/api/reviews/{slug}/decisions/", {"record": fresh_record.pk, "stage": "title_abstract",
                                            "decision": "include"}, format="json")
    trail = client_for(manager).get(f"/api/reviews/{slug}/audit/?entity=decision&page_size=1000").data
    mine = [event for event in trail["results"] if event["object_id"] == decided]
    assert [event["action"] for event in mine] == ["update", "insert"]
    assert mine[0]["user"] == "api-screener-2" and mine[0]["changed"] == ["note", "updated_at"]
    assert (mine[0]["old"]["note"], mine[0]["new"]["note"]) == ("secret-of-b", "still-secret")


def test_an_assessor_sees_the_others_assessment_only_once_both_submitted(api_review):
    slug, study = api_review.review.slug, api_review.review.studies.create(label="Second 2021", year=2021)
    one, two = api_review.users["assessor"], api_review.users["assessor-2"]
    theirs = rob1_assessment_save(study=study, assessor=two, entry=rob1_entry(other="high"), submit=True)
    seen = client_for(one)
    assert seen.get(f"/api/reviews/{slug}/rob1-assessments/{theirs.pk}/").status_code == 404
    assert theirs.pk not in {a["id"] for a in seen.get(f"/api/reviews/{slug}/rob1-assessments/?page_size=1000")
                             .data["results"]}
    assert seen.get(f"/api/reviews/{slug}/rob1-assessments/?study={study.pk}").data["count"] == 0
    trail = client_for(api_review.users["manager"])
    membership_add(review=api_review.review, user=api_review.users["manager"], role=Role.ASSESSOR)
    events = trail.get(f"/api/reviews/{slug}/audit/?entity=rob1-assessment&entity=rob1-judgment&page_size=1000")
    assert theirs.pk not in {e["object_id"] for e in events.data["results"] if e["entity"] == "rob1-assessment"}
    judgments = {e["new"]["assessment_id"] for e in events.data["results"]
                 if e["entity"] == "rob1-judgment" and e["new"]}
    assert theirs.pk not in judgments
    body = {"study": study.pk, "judgments": [{"domain": d, "judgment": "low"} for d in rob1_entry().judgments],
            "submit": True}
    assert seen.post(f"/api/reviews/{slug}/rob1-assessments/", body, format="json").status_code == 201
    shown = seen.get(f"/api/reviews/{slug}/rob1-assessments/{theirs.pk}/").data["judgments"]
    assert {j["domain"]: j["judgment"] for j in shown} == rob1_entry(other="high").judgments


def test_a_screener_cannot_decide_for_someone_else_or_another_review(api_review, fresh_record):
    slug, a, b = api_review.review.slug, api_review.users["screener"], api_review.users["screener-2"]
    response = client_for(a).post(f"/api/reviews/{slug}/decisions/",
                                  {"record": fresh_record.pk, "stage": "title_abstract", "decision": "include",
                                   "screener": b.pk, "decided_at": "2000-01-01T00:00:00Z"}, format="json")
    assert response.status_code == 201
    decision = ScreeningDecision.objects.get(pk=response.data["id"])
    assert decision.screener == a and decision.decided_at.year != 2000
    assert not ScreeningDecision.objects.filter(record=fresh_record, screener=b).exists()
    # Record and stage are fixed once decided; another review's record does not exist here.
    moved = client_for(a).patch(f"/api/reviews/{slug}/decisions/{decision.pk}/",
                                {"record": api_review.ids["records"], "stage": "full_text", "decision": "exclude"},
                                format="json")
    assert moved.status_code == 200
    decision.refresh_from_db()
    assert (decision.record_id, decision.stage, decision.decision) == (fresh_record.pk, "title_abstract", "exclude")
    theirs = entity_save(instance=Record(review=api_review.other, title="Their record"))
    refused = client_for(a).post(f"/api/reviews/{slug}/decisions/", {"record": theirs.pk, "stage": "title_abstract",
                                                                     "decision": "include"}, format="json")
    assert refused.status_code == 400 and "record" in refused.data
    assert not ScreeningDecision.objects.filter(record=theirs).exists()
    # Another screener's decision, once visible (they agree), is still not theirs to change or withdraw.
    client_for(b).post(f"/api/reviews/{slug}/decisions/", {"record": fresh_record.pk, "stage": "title_abstract",
                                                           "decision": "exclude"}, format="json")
    b_decision = ScreeningDecision.objects.get(record=fresh_record, screener=b)
    assert client_for(a).patch(f"/api/reviews/{slug}/decisions/{b_decision.pk}/", {"decision": "exclude"},
                               format="json").status_code == 403
    assert client_for(a).delete(f"/api/reviews/{slug}/decisions/{b_decision.pk}/").status_code == 403
    assert ScreeningDecision.objects.get(pk=b_decision.pk).decision == "exclude"


def test_a_tutor_resolves_only_as_themself_and_an_assessor_writes_only_their_own(api_review, fresh_record):
    slug = api_review.review.slug
    for who, verdict in (("screener", "include"), ("screener-2", "exclude")):
        client_for(api_review.users[who]).post(f"/api/reviews/{slug}/decisions/",
                                               {"record": fresh_record.pk, "stage": "title_abstract",
                                                "decision": verdict}, format="json")
    response = client_for(api_review.users["tutor"]).post(
        f"/api/reviews/{slug}/resolutions/", {"record": fresh_record.pk, "stage": "title_abstract",
                                              "decision": "include", "rationale": "Randomised.",
                                              "tutor": api_review.users["manager"].pk}, format="json")
    assert response.status_code == 201 and response.data["tutor"] == "api-tutor"
    other = RiskOfBiasAssessment.objects.filter(study__review=api_review.review, is_consensus=False,
                                                assessor=api_review.users["assessor-2"]).get()
    assert client_for(api_review.users["assessor"]).patch(
        f"/api/reviews/{slug}/rob1-assessments/{other.pk}/", {"judgments": []}, format="json").status_code == 403


def test_managers_add_only_users_who_share_a_review_with_them(api_review):
    slug, manager = api_review.review.slug, api_review.users["manager"]
    client = client_for(manager)
    from django.contrib.auth import get_user_model
    stranger = get_user_model().objects.create_user("stranger")
    assert client.post(f"/api/reviews/{slug}/team/", {"username": "stranger", "role": "screener"},
                       format="json").status_code == 400
    membership_add(review=api_review.review, user=stranger, role=Role.EXTRACTOR)
    added = client.post(f"/api/reviews/{slug}/team/", {"username": "stranger", "role": "screener", "user": 1},
                        format="json")
    assert added.status_code == 201 and added.data["username"] == "stranger"
    assert client_for(api_review.users["screener"]).post(
        f"/api/reviews/{slug}/team/", {"username": "stranger", "role": "manager"}, format="json").status_code == 403
    last_manager = api_review.ids["team"]
    assert client.delete(f"/api/reviews/{slug}/team/{last_manager}/").status_code == 400
    assert client.delete(f"/api/reviews/{slug}/team/{added.data['id']}/").status_code == 204
