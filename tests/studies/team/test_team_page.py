"""The team page (issue 18): members, roles added and removed by a manager, and how much each person
has done per stage, read in a constant number of queries."""
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from studies import selectors
from studies.models import (
    Decision,
    Record,
    ReviewMembership,
    Role,
    ScreeningDecision,
    Stage,
    StudyExtraction,
)
from studies.services import team as team_services
from studies.services.entities import entity_save
from studies.services.reviews import membership_add
from studies.services.screening import decision_record


def _manager_client(api_review) -> Client:
    client = Client()
    client.force_login(api_review.users["manager"])
    return client


def _work(api_review) -> dict[str, selectors.TeamWork]:
    return {person.username: person.work for person in selectors.team_people(api_review.review)}


def test_counts_per_person_and_stage(api_review):
    # Dual extraction entries of the extractor: one submitted, one draft (drafts do not count).
    StudyExtraction.objects.create(study=api_review.review.studies.get(), extractor=api_review.users["extractor"],
                                   submitted_at=timezone.now())
    work = _work(api_review)
    # The fixture: both screeners decided two records at title/abstract and one at full text; the tutor
    # resolved one conflict; each assessor submitted a RoB 1 and a RoB 2 assessment (the manager's
    # consensus is not an assessor's own work).
    assert work["api-screener"] == selectors.TeamWork(title_abstract=2, full_text=1)
    assert work["api-screener-2"] == selectors.TeamWork(title_abstract=2, full_text=1)
    assert work["api-tutor"] == selectors.TeamWork(resolutions=1)
    assert work["api-assessor"] == selectors.TeamWork(rob_submitted=2)
    assert work["api-extractor"] == selectors.TeamWork(extractions_submitted=1)
    assert work[api_review.users["manager"].username] == selectors.TeamWork()
    page = _manager_client(api_review).get(f"/reviews/{api_review.review.slug}/team/")
    assert page.status_code == 200
    assert "api-screener-2" in page.content.decode()


def test_the_counts_take_the_same_queries_whatever_the_team(api_review):
    with CaptureQueriesContext(connection) as before:
        selectors.team_people(api_review.review)
    review = api_review.review
    batch = review.import_batches.first()
    for i in range(4):
        person = get_user_model().objects.create_user(f"extra-screener-{i}")
        membership_add(review=review, user=person, role=Role.SCREENER)
        record = entity_save(instance=Record(review=review, import_batch=batch, title=f"Extra {i}"))
        decision_record(record=record, stage=Stage.TITLE_ABSTRACT, screener=person, decision=Decision.INCLUDE)
    # And a former member with work: one more query at most, whatever their number.
    team_services.team_role_remove(membership=ReviewMembership.objects.get(review=review, user__username="extra-screener-0"),
                                   changed_by=api_review.users["manager"])
    with CaptureQueriesContext(connection) as after:
        people = selectors.team_people(review)
    assert len(after) <= len(before) + 1 <= 7
    assert {p.username: p.work.title_abstract for p in people}["extra-screener-3"] == 1


def test_a_manager_adds_and_removes_roles_and_the_work_stays(api_review):
    client = _manager_client(api_review)
    slug = api_review.review.slug
    screener = api_review.users["screener"]
    added = client.post(f"/reviews/{slug}/team/roles/", {"member": screener.pk, "role": "extractor"}, follow=True)
    assert "is now also extractor" in added.content.decode()
    assert ReviewMembership.objects.filter(review=api_review.review, user=screener, role=Role.EXTRACTOR).exists()

    decisions = ScreeningDecision.objects.filter(screener=screener).count()
    for membership in ReviewMembership.objects.filter(review=api_review.review, user=screener):
        removed = client.post(f"/reviews/{slug}/team/roles/{membership.pk}/remove/", follow=True)
        assert "what they did stays theirs" in removed.content.decode()
    assert not ReviewMembership.objects.filter(review=api_review.review, user=screener).exists()
    assert ScreeningDecision.objects.filter(screener=screener).count() == decisions > 0
    former = {p.username: p for p in selectors.team_people(api_review.review)}["api-screener"]
    assert former.memberships == () and former.work.title_abstract == 2
    assert "No role any more" in client.get(f"/reviews/{slug}/team/").content.decode()


def test_only_people_on_the_team_get_roles_here(api_review):
    client = _manager_client(api_review)
    outsider = api_review.users["outsider"]
    answer = client.post(f"/reviews/{api_review.review.slug}/team/roles/", {"member": outsider.pk, "role": "screener"},
                         follow=True)
    assert "Choose a person on the team" in answer.content.decode()
    assert not ReviewMembership.objects.filter(review=api_review.review, user=outsider).exists()
    with pytest.raises(Exception, match="invite"):
        team_services.team_role_add(review=api_review.review, member=outsider, role=Role.SCREENER,
                                    changed_by=api_review.users["manager"])


def test_the_last_manager_stays(api_review):
    client = _manager_client(api_review)
    membership = ReviewMembership.objects.get(review=api_review.review, role=Role.MANAGER)
    answer = client.post(f"/reviews/{api_review.review.slug}/team/roles/{membership.pk}/remove/", follow=True)
    assert "keeps at least one manager" in answer.content.decode()
    assert ReviewMembership.objects.filter(pk=membership.pk).exists()


def test_team_changes_need_the_manager_role(api_review):
    tutor = api_review.users["tutor"]
    membership = ReviewMembership.objects.get(review=api_review.review, user=api_review.users["screener"])
    with pytest.raises(PermissionDenied):
        team_services.team_role_remove(membership=membership, changed_by=tutor)
    client = Client()
    client.force_login(tutor)
    assert client.post(f"/reviews/{api_review.review.slug}/team/roles/{membership.pk}/remove/").status_code == 403
    assert ReviewMembership.objects.filter(pk=membership.pk).exists()


def test_a_manager_added_in_the_back_office_gets_it_the_same_way(api_review):
    client = _manager_client(api_review)
    tutor = api_review.users["tutor"]
    assert not tutor.is_staff
    response = client.post("/admin/studies/reviewmembership/add/",
                           {"review": api_review.review.pk, "user": tutor.pk, "role": "manager"})
    assert response.status_code == 302, response.content[:800]
    tutor.refresh_from_db()
    assert tutor.is_staff and tutor.groups.filter(name="Review managers").exists()
    # Managing no review any more: the managers' group (its permissions) goes.
    membership = ReviewMembership.objects.get(review=api_review.review, user=tutor, role=Role.MANAGER)
    team_services.team_role_remove(membership=membership, changed_by=api_review.users["manager"])
    assert not tutor.groups.filter(name="Review managers").exists()
