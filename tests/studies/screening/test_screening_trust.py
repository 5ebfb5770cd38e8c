"""Screening people can trust (issue 18, item 6), through HTTP: every decision and resolution is
confirmed on screen with what was saved and an undo that keeps the note; progress is exact right
after a decision; "my decisions" lists mine (never the other screener's vote) and says which can
still change; a study's primary report changes only when someone asks for it, and the page says
which report stopped being primary."""
from datetime import timedelta
import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone
import pytest

from studies.models import Decision, Report, Role, ScreeningDecision, ScreeningResolution, Stage
from studies.models.audit import EVENT_MODELS
from studies.pages import screening as pages
from studies.services import membership_add
from studies.services import screening as services

TA, FT = Stage.TITLE_ABSTRACT, Stage.FULL_TEXT
I, E = Decision.INCLUDE, Decision.EXCLUDE


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def to_full_text(setup, record) -> None:
    for screener in (setup.s1, setup.s2):
        services.decision_record(record=record, stage=TA, screener=screener, decision=I)


def banner(body: str) -> str:
    """The confirmation at the top of a screening page ('' when there is none)."""
    found = re.search(r'<section class="saved" role="status".*?</section>', body, re.DOTALL)
    return found.group(0) if found else ""


def textarea(body: str, name: str) -> str:
    found = re.search(rf'<textarea name="{name}"[^>]*>(.*?)</textarea>', body, re.DOTALL)
    return found.group(1) if found else ""


# --- A decision is confirmed, and undone with its note kept ------------------------------------------


def test_a_full_text_decision_is_confirmed_with_what_was_saved_and_undone_with_its_note(setup):
    record, reason = setup.records[1], setup.reasons[1]
    to_full_text(setup, record)
    s1, url = client_for(setup.s1), f"/reviews/{setup.review.slug}/screening/full_text/"
    response = s1.post(url, {"record": record.pk, "decision": "exclude", "exclusion_reason": reason.pk,
                             "note": "Peers were supervised by clinicians throughout."})
    saved = ScreeningDecision.objects.get(record=record, stage=FT, screener=setup.s1)
    assert response.status_code == 302 and response["Location"].endswith(f"?after={record.pk}&saved={saved.pk}")
    shown = banner(s1.get(response["Location"]).content.decode())
    assert "Saved:" in shown and "Exclude" in shown and reason.label in shown and record.title in shown
    assert "Peers were supervised by clinicians" in shown
    assert f'name="decision" value="{saved.pk}"' in shown and "Undo this decision" in shown
    # Nobody else is shown my decision by naming it in the URL.
    assert banner(client_for(setup.s2).get(response["Location"]).content.decode()) == ""
    # Undo exactly that decision: the record comes back with its reason and note filled in.
    undone = s1.post(f"{url}withdraw/", {"decision": saved.pk})
    assert undone.status_code == 302 and undone["Location"].endswith(f"?record={record.pk}")
    assert not ScreeningDecision.objects.filter(pk=saved.pk).exists()
    page = s1.get(undone["Location"]).content.decode()
    assert "You withdrew your decision “Exclude”" in page
    assert textarea(page, "note") == "Peers were supervised by clinicians throughout."
    assert f'<option value="{reason.pk}" selected>' in page
    # Deciding again uses them, and they are not offered a second time.
    s1.post(url, {"record": record.pk, "decision": "exclude", "exclusion_reason": reason.pk,
                  "note": textarea(page, "note")})
    assert ScreeningDecision.objects.get(record=record, stage=FT, screener=setup.s1).note.startswith("Peers were")
    ScreeningDecision.objects.filter(record=record, stage=FT, screener=setup.s1).delete()
    assert textarea(s1.get(f"{url}?record={record.pk}").content.decode(), "note") == ""


def test_the_undo_key_keeps_the_note_too(setup):
    record, s1 = setup.records[2], client_for(setup.s1)
    url = f"/reviews/{setup.review.slug}/screening/title_abstract/"
    s1.post(url, {"record": record.pk, "decision": "unsure", "note": "Check the methods section."})
    undone = s1.post(url + "undo/")
    assert undone["Location"].endswith(f"?record={record.pk}")
    page = s1.get(undone["Location"]).content.decode()
    assert textarea(page, "note") == "Check the methods section." and "“Unsure”" in page


def test_an_undo_the_rules_refuse_is_explained_on_the_screening_page(setup):
    record = setup.records[0]
    mine = services.decision_record(record=record, stage=TA, screener=setup.s1, decision=E, note="mine")
    services.decision_record(record=record, stage=TA, screener=setup.s2, decision=I)
    s1, url = client_for(setup.s1), f"/reviews/{setup.review.slug}/screening/title_abstract/"
    for response in (s1.post(url + "undo/"), s1.post(url + "withdraw/", {"decision": mine.pk})):
        assert response.status_code == 409
        body = response.content.decode()
        assert "Both screeners have decided" in body and 'class="screening"' in body
    assert ScreeningDecision.objects.filter(pk=mine.pk).exists()
    # Only my own decisions can be withdrawn from the page.
    theirs = ScreeningDecision.objects.get(record=record, screener=setup.s2)
    assert client_for(setup.s3).post(url + "withdraw/", {"decision": theirs.pk}).status_code == 404


def test_an_include_ignores_a_reason_picked_in_the_same_form(setup):
    """The reason list and the buttons share one form: a reason left selected is not an include's."""
    record = setup.records[3]
    to_full_text(setup, record)
    response = client_for(setup.s1).post(f"/reviews/{setup.review.slug}/screening/full_text/", {
        "record": record.pk, "decision": "include", "exclusion_reason": setup.reasons[0].pk})
    assert response.status_code == 302
    assert ScreeningDecision.objects.get(record=record, stage=FT, screener=setup.s1).exclusion_reason is None


# --- Progress is exact right after a decision --------------------------------------------------------


def progress(client, url) -> tuple[int, int, int]:
    body = client.get(url).content.decode()
    found = re.search(r"Mine: <strong>(\d+)</strong> of (\d+) records .*?The review: (\d+) of", body, re.DOTALL)
    assert "counted every" not in body
    return int(found.group(1)), int(found.group(2)), int(found.group(3))


def test_progress_counts_my_decision_and_the_others_at_once(setup, django_capture_on_commit_callbacks):
    s1, url = client_for(setup.s1), f"/reviews/{setup.review.slug}/screening/title_abstract/"
    a, b, c = setup.records[:3]
    # Decisions made an hour ago sit in the shared snapshot; the page counts it now.
    for record in (a, b):
        services.decision_record(record=record, stage=TA, screener=setup.s1, decision=E)
    ScreeningDecision.objects.update(decided_at=timezone.now() - timedelta(hours=1),
                                     updated_at=timezone.now() - timedelta(hours=1))
    assert progress(s1, url) == (2, 6, 2)
    # Newer decisions, mine through the page and the other screener's, show on the very next page.
    services.decision_record(record=a, stage=TA, screener=setup.s2, decision=E)
    s1.post(url, {"record": c.pk, "decision": "include"})
    assert progress(s1, url) == (3, 6, 4)
    assert progress(client_for(setup.s2), url) == (1, 6, 4)
    # A withdrawn decision from before the snapshot: the snapshot is recounted at once.
    with django_capture_on_commit_callbacks(execute=True):
        services.decision_withdraw(decision=ScreeningDecision.objects.get(record=b, screener=setup.s1),
                                   screener=setup.s1)
    assert progress(s1, url) == (2, 6, 3)
    # A record agreed at title/abstract reaches full text: the full-text page counts it at once.
    ft = f"/reviews/{setup.review.slug}/screening/full_text/"
    assert progress(s1, ft) == (0, 0, 0)
    with django_capture_on_commit_callbacks(execute=True):
        services.decision_record(record=c, stage=TA, screener=setup.s2, decision=I)
    assert progress(s1, ft) == (0, 1, 0)


def test_the_progress_snapshot_is_shared_and_the_page_adds_only_recent_decisions(setup, django_assert_num_queries):
    """A page with the snapshot cached reads the counts in one small query, whoever asks."""
    review = setup.review
    pages._progress(review, TA, setup.s1)
    with django_assert_num_queries(1):
        assert pages._progress(review, TA, setup.s2).total == 6


# --- My decisions ---------------------------------------------------------------------------------


SECRET = "S2-SECRET-NOTE-91c4"


@pytest.fixture
def decided(setup):
    """s1 has decided four records: a conflict with s2 (s2's note is secret), an agreement, one
    s2 has not decided, and (full text) an exclusion with a reason."""
    conflict, agreed, open_, full = setup.records[:4]
    services.decision_record(record=conflict, stage=TA, screener=setup.s1, decision=E, note="mine: not an RCT")
    services.decision_record(record=conflict, stage=TA, screener=setup.s2, decision=I, note=SECRET)
    services.decision_record(record=agreed, stage=TA, screener=setup.s1, decision=E)
    services.decision_record(record=agreed, stage=TA, screener=setup.s2, decision=E)
    services.decision_record(record=open_, stage=TA, screener=setup.s1, decision=Decision.UNSURE)
    to_full_text(setup, full)
    services.decision_record(record=full, stage=FT, screener=setup.s1, decision=E, exclusion_reason=setup.reasons[2])
    return conflict, agreed, open_, full


def rows(body: str) -> dict[int, str]:
    """My decisions' list items by decision id."""
    return {int(pk): item for pk, item in re.findall(r'<li data-decision="(\d+)".*?>(.*?)</li>', body, re.DOTALL)}


def test_my_decisions_lists_mine_newest_first_with_filters_and_pages(setup, decided, monkeypatch):
    url = f"/reviews/{setup.review.slug}/screening/mine/"
    s1 = client_for(setup.s1)
    mine = list(ScreeningDecision.objects.filter(screener=setup.s1).order_by("-updated_at", "-pk"))
    assert list(rows(s1.get(url).content.decode())) == [d.pk for d in mine]
    ft_only = rows(s1.get(url, {"stage": "full_text"}).content.decode())
    assert list(ft_only) == [mine[0].pk] and setup.reasons[2].label in ft_only[mine[0].pk]
    excluded_ta = rows(s1.get(url, {"stage": "title_abstract", "decision": "exclude"}).content.decode())
    assert set(excluded_ta) == {d.pk for d in mine if d.stage == TA and d.decision == E}
    assert "mine: not an RCT" in "".join(excluded_ta.values())
    monkeypatch.setattr(pages, "MY_DECISIONS_PER_PAGE", 3)
    first = s1.get(url).content.decode()
    second = s1.get(url, {"page": 2}).content.decode()
    assert list(rows(first)) + list(rows(second)) == [d.pk for d in mine]
    assert "page 1 of 2" in first and 'rel="next"' in first and 'rel="prev"' in second
    # Only screeners have decisions of their own to list.
    assert client_for(setup.tutor).get(url).status_code == 403
    assert client_for(setup.outsider).get(url).status_code == 404
    # The screening page links here.
    assert url in s1.get(f"/reviews/{setup.review.slug}/screening/title_abstract/").content.decode()
    assert url in s1.get(f"/reviews/{setup.review.slug}/screening/").content.decode()


def test_my_decisions_never_shows_the_other_screeners_vote(setup, decided):
    conflict, agreed, _, _ = decided
    body = client_for(setup.s1).get(f"/reviews/{setup.review.slug}/screening/mine/").content.decode()
    assert SECRET not in body and setup.s2.username not in body
    row = rows(body)[ScreeningDecision.objects.get(record=conflict, screener=setup.s1).pk]
    assert "Include" not in row and "onflict" not in row  # s2 included: neither said nor implied by a status
    # An agreed record is settled: its verdict is the screener's to know (access.decisions_visible).
    settled = rows(body)[ScreeningDecision.objects.get(record=agreed, screener=setup.s1).pk]
    assert "Settled — Agreed: exclude" in settled


def test_frozen_pairs_cannot_be_changed_from_my_decisions_open_ones_can(setup, decided):
    conflict, agreed, open_, _ = decided
    s1 = client_for(setup.s1)
    body = s1.get(f"/reviews/{setup.review.slug}/screening/mine/").content.decode()
    frozen = rows(body)[ScreeningDecision.objects.get(record=conflict, screener=setup.s1).pk]
    assert "frozen" in frozen and "Change it" not in frozen
    assert "Change it" not in rows(body)[ScreeningDecision.objects.get(record=agreed, screener=setup.s1).pk]
    change = f"/reviews/{setup.review.slug}/screening/title_abstract/?record={open_.pk}"
    assert change in rows(body)[ScreeningDecision.objects.get(record=open_, screener=setup.s1).pk]
    # Following a frozen record to the screening page offers no buttons, and a hand-made change is refused.
    page = s1.get(f"/reviews/{setup.review.slug}/screening/title_abstract/?record={conflict.pk}").content.decode()
    assert "can no longer change" in page and 'data-key="i"' not in page
    refused = s1.post(f"/reviews/{setup.review.slug}/screening/title_abstract/",
                      {"record": conflict.pk, "decision": "include"})
    assert refused.status_code == 400 and "Both screeners have decided" in refused.content.decode()
    assert ScreeningDecision.objects.get(record=conflict, screener=setup.s1).decision == E
    # The open one changes.
    assert s1.post(f"/reviews/{setup.review.slug}/screening/title_abstract/",
                   {"record": open_.pk, "decision": "include"}).status_code == 302
    assert ScreeningDecision.objects.get(record=open_, screener=setup.s1).decision == I


# --- Tutors' resolutions are confirmed and can be undone ------------------------------------------------


def conflict_of(setup, record, stage=TA):
    services.decision_record(record=record, stage=stage, screener=setup.s1, decision=I)
    services.decision_record(record=record, stage=stage, screener=setup.s2, decision=E,
                             exclusion_reason=setup.reasons[0] if stage == FT else None)


def test_a_resolution_is_confirmed_and_its_undo_brings_the_conflict_back_with_the_rationale(setup):
    record = setup.records[4]
    conflict_of(setup, record)
    tutor, url = client_for(setup.tutor), f"/reviews/{setup.review.slug}/screening/title_abstract/conflicts/"
    response = tutor.post(url, {"record": record.pk, "decision": "exclude", "rationale": "Not randomised."})
    resolution = ScreeningResolution.objects.get(record=record)
    assert response["Location"].endswith(f"?resolved={resolution.pk}")
    page = tutor.get(response["Location"]).content.decode()
    shown = banner(page)
    assert "Resolved:" in shown and "Exclude" in shown and record.title in shown and "Not randomised." in shown
    assert f'name="resolution" value="{resolution.pk}"' in shown
    assert f'data-record="{record.pk}"' not in page  # no longer waiting
    undone = tutor.post(url + "withdraw/", {"resolution": resolution.pk})
    assert undone.status_code == 302 and not ScreeningResolution.objects.filter(record=record).exists()
    page = tutor.get(undone["Location"]).content.decode()
    assert f'data-record="{record.pk}"' in page and "Your resolution “Exclude” was withdrawn" in page
    assert textarea(page, "rationale") == "Not randomised."
    # The withdrawal is in the audit trail (database triggers).
    events = EVENT_MODELS[ScreeningResolution].objects.filter(pgh_obj_id=resolution.pk)
    assert sorted(events.values_list("pgh_label", flat=True)) == ["delete", "insert"]


def test_a_resolution_undo_is_refused_for_others_and_when_later_work_depends_on_it(setup):
    first, second = setup.records[4], setup.records[5]
    conflict_of(setup, first)
    resolution = services.resolution_record(record=first, stage=TA, tutor=setup.tutor, decision=I, rationale="RCT.")
    with pytest.raises(PermissionDenied, match="tutors can withdraw"):
        services.resolution_withdraw(resolution=resolution, tutor=setup.s3)  # not even a tutor
    membership_add(review=setup.review, user=setup.extractor, role=Role.TUTOR)
    with pytest.raises(PermissionDenied, match="tutor who made"):
        services.resolution_withdraw(resolution=resolution, tutor=setup.extractor)  # another tutor
    refused = client_for(setup.extractor).post(
        f"/reviews/{setup.review.slug}/screening/title_abstract/conflicts/withdraw/", {"resolution": resolution.pk})
    assert refused.status_code == 409 and "tutor who made" in refused.content.decode()
    # Full-text work depends on the title/abstract resolution.
    services.decision_record(record=first, stage=FT, screener=setup.s1, decision=I)
    with pytest.raises(ValidationError, match="full-text decisions"):
        services.resolution_withdraw(resolution=resolution, tutor=setup.tutor)
    refused = client_for(setup.tutor).post(
        f"/reviews/{setup.review.slug}/screening/title_abstract/conflicts/withdraw/", {"resolution": resolution.pk})
    assert refused.status_code == 409 and "full-text decisions" in refused.content.decode()
    assert ScreeningResolution.objects.filter(pk=resolution.pk).exists()
    # A study link depends on a full-text resolution; a manager may withdraw one (any tutor's).
    to_full_text(setup, second)
    conflict_of(setup, second, FT)
    at_ft = services.resolution_record(record=second, stage=FT, tutor=setup.tutor, decision=I, rationale="Fits.")
    services.report_link(record=second, user=setup.tutor, new_study_label="Peer 2020")
    with pytest.raises(ValidationError, match="linked to a study"):
        services.resolution_withdraw(resolution=at_ft, tutor=setup.manager)
    services.report_unlink(record=second, user=setup.tutor)
    services.resolution_withdraw(resolution=at_ft, tutor=setup.manager)
    assert not ScreeningResolution.objects.filter(pk=at_ft.pk).exists()


# --- The primary report is chosen explicitly ----------------------------------------------------------


def included_record(setup, record):
    to_full_text(setup, record)
    for screener in (setup.s1, setup.s2):
        services.decision_record(record=record, stage=FT, screener=screener, decision=I)


def test_linking_a_second_report_never_demotes_the_primary_and_make_primary_says_what_changed(setup):
    first, second = setup.records[4], setup.records[5]
    for record in (first, second):
        included_record(setup, record)
    tutor, url = client_for(setup.tutor), f"/reviews/{setup.review.slug}/screening/included/"
    page = tutor.get(url).content.decode()
    assert 'name="primary"' not in page  # no silent switch hidden in the link form
    response = tutor.post(url, {"record": first.pk, "label": "Peer 2020"}, follow=True)
    assert "is now the primary report of Peer 2020" in banner(response.content.decode())
    study = Report.objects.get(record=first).study
    response = tutor.post(url, {"record": second.pk, "study": study.pk, "primary": "1"}, follow=True)
    shown = banner(response.content.decode())
    assert "a further report of Peer 2020" in shown and f"primary report is “{first.title}”" in shown
    assert Report.objects.get(record=first).is_primary and not Report.objects.get(record=second).is_primary
    # The explicit switch names the report that stops being primary, before and after.
    page = response.content.decode()
    assert re.search(rf'value="{second.pk}"><button name="make_primary" value="1">Make primary</button>'
                     rf' <span class="muted">instead of “{re.escape(first.title[:50])}', page)
    response = tutor.post(url, {"record": second.pk, "make_primary": "1"}, follow=True)
    shown = banner(response.content.decode())
    assert f"“{second.title}” is now the primary report of Peer 2020; “{first.title}” is no longer primary." in shown
    assert Report.objects.get(record=second).is_primary and not Report.objects.get(record=first).is_primary
    # Unlinking the primary says which report took its place.
    response = tutor.post(url, {"record": second.pk, "unlink": "1"}, follow=True)
    assert f"Peer 2020&#x27;s primary report is “{first.title}”" in banner(response.content.decode())
    assert Report.objects.get(record=first).is_primary
