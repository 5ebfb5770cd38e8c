"""The back office is one more door, so the workflow's rules and blinding hold there too: a manager
who also screens or assesses sees nothing of a colleague's unsettled vote or draft judgment on any
admin page (lists, change and delete pages, filters, search), and no manager writes a workflow row
directly (a third decision, a changed resolved decision, an edited judgment)."""
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
import pytest

from studies.models import (
    Decision, OutcomeData, Record, RiskOfBiasAssessment, RiskOfBiasJudgment, Role, ScreeningDecision,
    ScreeningResolution, Stage,
)
from studies.services import entity_delete, entity_save, membership_add
from studies.services.reviews import managers_group_ensure
from studies.services.risk_of_bias import Rob1Entry, rob1_assessment_save
from studies.services.screening import decision_record, resolution_record
from tests.rob_entries import rob1_entry

TA = Stage.TITLE_ABSTRACT
SECRET_NOTE = "OTHER-SCREENER-NOTE-91c2"
SECRET_SUPPORT = "OTHER-ASSESSOR-DRAFT-5d0e"


def admin_url(model, action: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


def staff_manager(review, username: str, *also: str):
    user = get_user_model().objects.create_user(username, is_staff=True)
    user.groups.add(managers_group_ensure())
    for role in (Role.MANAGER, *also):
        membership_add(review=review, user=user, role=role)
    return user


@pytest.fixture
def team(small):
    users = get_user_model().objects
    other_screener, other_assessor, tutor = (users.create_user(n) for n in ("adm-s2", "adm-a2", "adm-tutor"))
    membership_add(review=small.review, user=other_screener, role=Role.SCREENER)
    membership_add(review=small.review, user=other_assessor, role=Role.ASSESSOR)
    membership_add(review=small.review, user=tutor, role=Role.TUTOR)
    record = Record.objects.create(review=small.review, title="Peer support for stigma: a trial")
    decision_record(record=record, stage=TA, screener=other_screener, decision=Decision.EXCLUDE, note=SECRET_NOTE)
    judgments = rob1_entry(random_sequence="high").judgments
    draft = rob1_assessment_save(study=small.study, assessor=other_assessor,
                                 entry=Rob1Entry(judgments=judgments, support={k: SECRET_SUPPORT for k in judgments}))
    return small, record, draft, other_screener, tutor


def pages_showing(client: Client, urls: list[str], secret: str) -> list[str]:
    leaks = []
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, url
        if secret in response.content.decode():
            leaks.append(url)
    return leaks


def test_a_manager_who_screens_sees_no_unsettled_vote_in_the_back_office(team):
    small, record, _, _, _ = team
    client = Client()
    client.force_login(staff_manager(small.review, "adm-manager-screener", Role.SCREENER))
    urls = [admin_url(ScreeningDecision, "changelist"), admin_url(ScreeningDecision, "changelist") + "?q=adm-s2",
            admin_url(ScreeningDecision, "changelist") + "?decision__exact=exclude",
            admin_url(Record, "change", record.pk), admin_url(Record, "delete", record.pk)]
    assert pages_showing(client, urls, SECRET_NOTE) == []
    delete_page = client.get(admin_url(Record, "delete", record.pk)).content.decode()
    assert "Exclude by" not in delete_page and "adm-s2" not in delete_page
    assert "Screening decisions: 1" in delete_page  # the cascade, counted


def test_a_manager_who_assesses_sees_no_colleagues_draft_in_the_back_office(team):
    small, _, draft, _, _ = team
    client = Client()
    client.force_login(staff_manager(small.review, "adm-manager-assessor", Role.ASSESSOR))
    judgment = RiskOfBiasJudgment.objects.filter(assessment=draft).first()
    urls = [admin_url(RiskOfBiasAssessment, "changelist"), admin_url(RiskOfBiasAssessment, "change", draft.pk),
            admin_url(RiskOfBiasAssessment, "delete", draft.pk),
            admin_url(RiskOfBiasJudgment, "changelist"),
            admin_url(RiskOfBiasJudgment, "changelist") + "?judgment__exact=high",
            admin_url(RiskOfBiasJudgment, "change", judgment.pk),
            admin_url(type(small.study), "delete", small.study.pk)]
    assert pages_showing(client, urls, SECRET_SUPPORT) == []
    # Search by the draft's text finds nothing (the page echoes the search box, nothing else).
    searched = client.get(admin_url(RiskOfBiasJudgment, "changelist") + f"?q={SECRET_SUPPORT}").content.decode()
    assert "0 risk-of-bias judgments" in searched
    assert "adm-a2" not in client.get(admin_url(RiskOfBiasJudgment, "changelist") + "?judgment__exact=high").content.decode()


def test_a_manager_cannot_add_a_third_decision_or_change_a_resolved_one(team):
    small, record, _, other_screener, tutor = team
    membership_add(review=small.review, user=(second := get_user_model().objects.create_user("adm-s3")),
                   role=Role.SCREENER)
    decision_record(record=record, stage=TA, screener=second, decision=Decision.INCLUDE)
    resolution_record(record=record, stage=TA, tutor=tutor, decision=Decision.EXCLUDE, rationale="Not a trial.")
    manager = staff_manager(small.review, "adm-plain-manager")
    client = Client()
    client.force_login(manager)
    assert client.get(admin_url(ScreeningDecision, "add")).status_code == 403
    third = client.post(admin_url(ScreeningDecision, "add"), {
        "record": record.pk, "stage": TA, "screener": manager.pk, "decision": Decision.INCLUDE})
    assert third.status_code == 403
    resolved = ScreeningDecision.objects.get(record=record, screener=other_screener)
    changed = client.post(admin_url(ScreeningDecision, "change", resolved.pk), {
        "record": record.pk, "stage": TA, "screener": other_screener.pk, "decision": Decision.INCLUDE})
    assert changed.status_code in (302, 403)
    assert client.post(admin_url(ScreeningDecision, "delete", resolved.pk), {"post": "yes"}).status_code == 403
    # The record's inline rows are shown, not editable: a POST of the record form changes no decision.
    assert ScreeningDecision.objects.filter(record=record).count() == 2
    assert ScreeningDecision.objects.get(pk=resolved.pk).decision == Decision.EXCLUDE
    assert client.get(admin_url(ScreeningResolution, "add")).status_code == 403


def test_the_generic_save_refuses_workflow_rows_whoever_calls_it(team):
    small, record, draft, other_screener, _ = team
    decision = ScreeningDecision.objects.get(record=record)
    decision.decision = Decision.INCLUDE
    with pytest.raises(PermissionDenied, match="cannot be edited directly"):
        entity_save(instance=decision)
    with pytest.raises(PermissionDenied):
        entity_delete(instance=decision)
    judgment = RiskOfBiasJudgment.objects.filter(assessment=draft).first()
    judgment.judgment = "low"
    with pytest.raises(PermissionDenied):
        entity_save(instance=judgment)
    assert ScreeningDecision.objects.get(pk=decision.pk).decision == Decision.EXCLUDE


def test_dual_extraction_holds_in_the_back_office(small):
    small.review.dual_extraction = True
    entity_save(instance=small.review)
    client = Client()
    client.force_login(small.manager)
    page = client.get(admin_url(OutcomeData, "change", small.data.pk))
    assert page.status_code == 200 and 'name="mean"' not in page.content.decode()  # shown read-only
    refused = client.post(admin_url(OutcomeData, "change", small.data.pk), {"mean": "99"})
    assert refused.status_code == 403
    # The blank add form belongs to no review yet (its save is refused below, as every door's is).
    assert client.get(admin_url(OutcomeData, "add")).status_code == 200
    small.data.mean = 99
    with pytest.raises(PermissionDenied, match="dual extraction"):
        entity_save(instance=small.data)
