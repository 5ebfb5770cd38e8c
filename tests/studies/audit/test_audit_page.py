"""The audit trail page (``/reviews/<slug>/audit/``) for a review's managers, and the filters it
shares with the API (``GET /api/reviews/<slug>/audit/``): both ask ``studies.audit.audit_trail``, so
they give the same answer, blinded by the same rules."""
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from studies.audit import ENTITIES, RECORD_COLUMNS, STUDY_COLUMNS
from studies.models import Record, RiskOfBiasAssessment, Rob2Assessment, Role, Stage
from studies.pages import audit as audit_page
from studies.services.entities import entity_save
from studies.services.reviews import membership_add
from studies.services.screening import decision_record, resolution_record

EVENT = re.compile(r'data-event="([\w-]+):(\d+)"')
COUNT = re.compile(r'<h2 id="results">(\d+) change')


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def page_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_trail(viewer, slug: str, **params) -> dict:
    response = api_for(viewer).get(f"/api/reviews/{slug}/audit/", {"page_size": 1000, **params})
    assert response.status_code == 200, response.data
    return response.data


def page_trail(viewer, slug: str, **params) -> tuple[int, list[tuple[str, int]], str]:
    """The page's total and its events as ``(entity, event_id)``, newest first, and its text."""
    response = page_for(viewer).get(f"/reviews/{slug}/audit/", params)
    body = response.content.decode()
    assert response.status_code == 200, body
    return int(COUNT.search(body).group(1)), [(e, int(i)) for e, i in EVENT.findall(body)], body


def keys(events: list[dict]) -> list[tuple[str, int]]:
    return [(event["entity"], event["event_id"]) for event in events]


@pytest.fixture
def trail(api_review):
    """Changes made through the API, so the trail names who made them: the extractor corrects an
    outcome's mean twice, the manager renames the study."""
    slug, ids, users = api_review.review.slug, api_review.ids, api_review.users
    data_url = f"/api/reviews/{slug}/outcome-data/{ids['outcome-data']}/"
    for mean in (-3.0, -2.5):
        assert api_for(users["extractor"]).patch(data_url, {"mean": mean}, format="json").status_code == 200
    renamed = api_for(users["manager"]).patch(f"/api/reviews/{slug}/studies/{ids['studies']}/",
                                             {"label": "Only 2020 (renamed)"}, format="json")
    assert renamed.status_code == 200, renamed.data
    return api_review


def _snapshot(event: dict) -> dict:
    return event["new"] or event["old"] or {}


def _about_study(study_id: int):
    assessments = {"rob1": set(RiskOfBiasAssessment.objects.filter(study_id=study_id).values_list("pk", flat=True)),
                   "rob2": set(Rob2Assessment.objects.filter(study_id=study_id).values_list("pk", flat=True))}

    def about(event: dict) -> bool:
        snapshot = _snapshot(event)
        if event["entity"] == "study":
            return event["object_id"] == study_id
        if event["entity"].startswith(("rob1-", "rob2-")) and "assessment_id" in snapshot:
            return snapshot["assessment_id"] in assessments[event["entity"][:4]]
        return snapshot.get("study_id") == study_id
    return about


def test_each_filter_narrows_the_trail_to_exactly_the_matching_events(trail):
    """Each filter (and a combination) answers exactly the events of the whole trail that match it:
    some, not all, and in the same order."""
    slug, users, ids = trail.review.slug, trail.users, trail.ids
    manager = users["manager"]
    everything = api_trail(manager, slug)["results"]
    today = timezone.now().date()
    cases = [
        ({"user": users["extractor"].pk}, lambda e: e["user"] == "api-extractor"),
        ({"record": ids["records"]},
         lambda e: e["entity"] in RECORD_COLUMNS and _snapshot(e).get("record_id") == ids["records"]),
        ({"study": ids["studies"]}, _about_study(ids["studies"])),
        ({"action": "update"}, lambda e: e["action"] == "update"),
        ({"action": ["insert", "delete"]}, lambda e: e["action"] != "update"),
        ({"entity": "decision"}, lambda e: e["entity"] == "decision"),
        ({"user": manager.pk, "action": "update", "study": ids["studies"]},
         lambda e: e["user"] == manager.username and e["action"] == "update" and _about_study(ids["studies"])(e)),
    ]
    for params, matches in cases:
        expected = [e for e in everything if matches(e)]
        assert 0 < len(expected) < len(everything), params  # the case can tell a filter from none
        answer = api_trail(manager, slug, **params)
        assert keys(answer["results"]) == keys(expected), params
        assert answer["count"] == len(expected), params
    # The study filter reaches risk-of-bias rows through their assessment, and every kind that has a study.
    about_study = {e["entity"] for e in api_trail(manager, slug, study=ids["studies"])["results"]}
    assert about_study >= {"study", "report", "outcome-data", "rob1-assessment", "rob1-judgment", "rob2-answer"}
    assert about_study <= set(STUDY_COLUMNS)
    # Dates: since is inclusive, until exclusive; a day with no change gives nothing.
    midnight = timezone.make_aware(timezone.datetime.combine(today, timezone.datetime.min.time()))
    assert api_trail(manager, slug, since=midnight.isoformat())["count"] == len(everything)
    assert api_trail(manager, slug, until=midnight.isoformat())["count"] == 0
    assert api_trail(manager, slug, since=(midnight + timedelta(days=1)).isoformat())["count"] == 0
    assert api_trail(manager, slug, until=(midnight + timedelta(days=1)).isoformat())["count"] == len(everything)


def test_a_filtered_change_keeps_its_old_values(trail):
    """Old values come from the row's previous event even when the filter leaves that event out."""
    slug, users = trail.review.slug, trail.users
    changes = api_trail(users["manager"], slug, user=users["extractor"].pk, action="update")["results"]
    assert [(e["old"]["mean"], e["new"]["mean"]) for e in changes] == [(-3.0, -2.5), (-4.2, -3.0)]
    # The analysed copy moves with a confirmed value (issue 20), and the row records who entered it.
    assert all({"mean", "confirmed_mean", "updated_at"} <= set(e["changed"])
               <= {"mean", "confirmed_mean", "entered_by_id", "updated_at"} for e in changes)
    _, _, body = page_trail(users["manager"], slug, person=users["extractor"].pk, action="update")
    assert re.search(r"<dt>mean</dt>\s*<dd><span class=\"old\">-4.2</span>.*?<span class=\"new\">-3</span>", body)


PAGE_TO_API = {"person": "user", "record": "record", "study": "study", "entity": "entity", "action": "action"}


def test_the_page_and_the_api_give_the_same_answer(trail):
    slug, users, ids = trail.review.slug, trail.users, trail.ids
    manager, today = users["manager"], timezone.now().date()
    combinations = [
        {},
        {"person": users["extractor"].pk},
        {"record": ids["records"], "entity": "decision"},
        {"study": ids["studies"], "action": "update"},
        {"person": manager.pk, "action": "insert", "study": ids["studies"]},
        {"entity": "outcome-data", "action": "delete"},
    ]
    for params in combinations:
        count, events, _ = page_trail(manager, slug, **params)
        answer = api_trail(manager, slug, page_size=audit_page.PAGE_SIZE,
                           **{PAGE_TO_API[name]: value for name, value in params.items()})
        assert (count, events) == (answer["count"], keys(answer["results"])), params
    # The page's dates are whole days: "to" includes its day.
    count, events, _ = page_trail(manager, slug, date_from=today.isoformat(), date_to=today.isoformat())
    answer = api_trail(manager, slug, page_size=audit_page.PAGE_SIZE, since=today.isoformat(),
                       until=(today + timedelta(days=1)).isoformat())
    assert (count, events) == (answer["count"], keys(answer["results"])) and count > 0
    assert page_trail(manager, slug, date_to=(today - timedelta(days=1)).isoformat())[0] == 0


def test_the_page_says_who_changed_what_in_the_reviews_words(trail):
    slug, users = trail.review.slug, trail.users
    _, _, body = page_trail(users["manager"], slug, person=users["extractor"].pk)
    row = body[body.index('data-event="outcome-data:'):]
    row = row[:row.index("</tr>")]
    assert "api-extractor" in row and "<strong>Outcome data</strong>" in row and "changed" in row
    assert "Only 2020 (renamed)" in row  # the study it belongs to, by its label
    _, _, body = page_trail(users["manager"], slug, entity="decision", record=trail.ids["records"])
    assert "<strong>Screening decision</strong>" in body and "Peer support and stigma" in body
    assert "Title and abstract" in body  # a choice in its words, not title_abstract
    assert "<dt>screener</dt>" in body and "api-screener-2" in body  # a person by name, not their id
    assert "not recorded" in body  # made outside a request: no one to name
    # The filters keep their values, and the person list names the team.
    assert f'<option value="{users["extractor"].pk}">api-extractor</option>' in page_trail(users["manager"], slug)[2]
    _, _, body = page_trail(users["manager"], slug, person=users["extractor"].pk, action="update")
    assert f'<option value="{users["extractor"].pk}" selected>api-extractor</option>' in body
    assert '<option value="update" selected>changed</option>' in body
    assert audit_page.entity_label("membership-of-the-future") == "membership-of-the-future"


def test_a_long_value_is_shortened_with_the_whole_of_it_one_click_away(trail):
    slug, manager = trail.review.slug, trail.users["manager"]
    question = " ".join(["Do peer-led interventions reduce stigma?"] * 10)
    assert api_for(manager).patch(f"/api/reviews/{slug}/", {"question": question}, format="json").status_code == 200
    _, _, body = page_trail(manager, slug, entity="review", action="update")
    details = re.search(r"<details><summary>(.*?)</summary><span class=\"full\">(.*?)</span></details>", body, re.DOTALL)
    assert details and len(details.group(1)) <= audit_page.SHORT and details.group(2) == question


@pytest.mark.parametrize("who,status", [("screener", 403), ("tutor", 403), ("extractor", 403), ("assessor", 403),
                                        ("outsider", 404)])
def test_only_managers_see_the_page(api_review, who, status):
    response = page_for(api_review.users[who]).get(f"/reviews/{api_review.review.slug}/audit/")
    assert response.status_code == status
    if status == 403:
        assert "read the audit trail" in response.content.decode()
    assert Client().get(f"/reviews/{api_review.review.slug}/audit/").status_code == 302  # to sign in


@pytest.fixture
def fresh_record(api_review) -> Record:
    batch = Record.objects.get(pk=api_review.ids["records"]).import_batch
    return entity_save(instance=Record(review=api_review.review, import_batch=batch, title="Undecided so far"))


def test_a_manager_who_screens_does_not_see_the_others_unsettled_vote(api_review, fresh_record):
    """Until the record is settled, the other screener's vote is in neither the page nor the API,
    even after the manager voted on it too (a conflict); once the tutor resolves it, it is in both."""
    slug, users = api_review.review.slug, api_review.users
    manager = users["manager"]
    membership_add(review=api_review.review, user=manager, role=Role.SCREENER)
    theirs = decision_record(record=fresh_record, stage=Stage.TITLE_ABSTRACT, screener=users["screener-2"],
                             decision="exclude", note="secret-note-of-b")
    hidden = ("decision", theirs.audit_events.get().pgh_id)

    def seen() -> tuple[bool, bool]:
        on_page = page_trail(manager, slug, record=fresh_record.pk)
        in_api = api_trail(manager, slug, record=fresh_record.pk)
        assert ("secret-note-of-b" in on_page[2]) == (hidden in on_page[1])
        assert ("secret-note-of-b" in str(in_api)) == (hidden in keys(in_api["results"]))
        return hidden in on_page[1], hidden in keys(in_api["results"])

    assert seen() == (False, False)
    assert page_trail(manager, slug)[1].count(hidden) == 0  # nor unfiltered
    decision_record(record=fresh_record, stage=Stage.TITLE_ABSTRACT, screener=manager, decision="include")
    assert seen() == (False, False)  # a conflict: still blind to a screener
    resolution_record(record=fresh_record, stage=Stage.TITLE_ABSTRACT, tutor=users["tutor"], decision="exclude",
                      rationale="Not a trial.")
    assert seen() == (True, True)


def test_pages_walk_the_whole_trail_keeping_the_filters(trail, monkeypatch):
    slug, manager = trail.review.slug, trail.users["manager"]
    monkeypatch.setattr(audit_page, "PAGE_SIZE", 4)
    everything = api_trail(manager, slug, action="insert")
    walked, page, pages = [], 1, None
    while True:
        count, events, body = page_trail(manager, slug, action="insert", page=page)
        assert count == everything["count"] and len(events) <= 4
        walked += events
        pages = -(-count // 4)
        assert f"Page {page} of {pages}" in body
        if page == pages:
            assert 'rel="next"' not in body
            break
        assert f'href="?action=insert&amp;page={page + 1}" rel="next"' in body
        page += 1
    assert pages > 2 and walked == keys(everything["results"])
    assert "There is no page 99" in page_trail(manager, slug, page=99)[2]


@pytest.mark.parametrize("params,named", [
    ({"record": "abc"}, "Record id: Enter a whole number."),
    ({"date_from": "2024-13-45"}, "From (date): Enter a valid date."),
    ({"date_from": "2024-05-02", "date_to": "2024-05-01"}, "The end date must not be before the start date."),
    ({"person": "999999"}, "Person: Select a valid choice."),
    ({"study": "x"}, "Study: Select a valid choice."),
    ({"action": "erase"}, "Change: Select a valid choice."),
    ({"page": "0"}, "Page: Ensure this value is greater than or equal to 1."),
])
def test_bad_filters_give_a_form_error_on_the_page(api_review, params, named):
    response = page_for(api_review.users["manager"]).get(f"/reviews/{api_review.review.slug}/audit/", params)
    body = response.content.decode()
    assert response.status_code == 400 and named in body
    assert 'role="alert"' in body and "data-event=" not in body


@pytest.mark.parametrize("params,field", [
    ({"user": "abc"}, "user"), ({"record": "1.5"}, "record"), ({"study": "-3"}, "study"),
    ({"since": "yesterday"}, "since"), ({"until": "2024-02-30"}, "until"), ({"action": "erase"}, "action"),
    ({"since": "2024-05-02", "until": "2024-05-01"}, "until"),
])
def test_bad_filters_give_a_clear_400_on_the_api(api_review, params, field):
    response = api_for(api_review.users["manager"]).get(f"/api/reviews/{api_review.review.slug}/audit/", params)
    assert response.status_code == 400 and list(response.data) == [field], response.data


def test_the_number_of_queries_does_not_grow_with_the_page(demo_review, monkeypatch, django_assert_max_num_queries):
    manager = demo_review.memberships.get(role=Role.MANAGER).user
    client = page_for(manager)
    # Two per audited entity (its count and its page), the rest fixed: none per row shown.
    bound = 2 * len(ENTITIES) + 9
    for size in (5, 200):
        monkeypatch.setattr(audit_page, "PAGE_SIZE", size)
        with django_assert_max_num_queries(bound):
            response = client.get(f"/reviews/{demo_review.slug}/audit/")
        assert len(EVENT.findall(response.content.decode())) == size
