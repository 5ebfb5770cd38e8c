"""The front page as each role's home: the work waiting in each of their reviews, with live counts and
links only to pages they may open; starting a review."""
from django.contrib.auth import get_user_model
from django.test import Client
import pytest

from studies.models import Decision, Review, ReviewMembership, Role, Stage
from studies.services import screening as screening_services
from studies.services.reviews import managers_group_ensure
from tests.studies.screening.conftest import build_screening_review

pytestmark = pytest.mark.django_db


def home_of(user) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def task_count(html: str, label: str) -> int:
    start = html.index(f">{label}</a>: <strong>") + len(f">{label}</a>: <strong>")
    return int(html[start:html.index("</strong>", start)])


def test_a_screeners_count_moves_with_their_own_decision_and_never_with_the_others():
    setup = build_screening_review(slug="home-counts", n_records=4)
    label = "Titles and abstracts left for me to screen"
    assert task_count(home_of(setup.s1), label) == 4
    screening_services.decision_record(record=setup.records[0], stage=Stage.TITLE_ABSTRACT, screener=setup.s2,
                                       decision=Decision.INCLUDE)
    # The other screener's vote does not move my count (it would tell me they voted).
    assert task_count(home_of(setup.s1), label) == 4
    screening_services.decision_record(record=setup.records[1], stage=Stage.TITLE_ABSTRACT, screener=setup.s1,
                                       decision=Decision.EXCLUDE)
    assert task_count(home_of(setup.s1), label) == 3
    html = home_of(setup.s1)
    assert "conflicts waiting" not in html and "/conflicts/" not in html  # a screener is not shown conflicts


def test_a_tutor_sees_the_conflicts_waiting():
    setup = build_screening_review(slug="home-conflicts", n_records=2)
    record = setup.records[0]
    screening_services.decision_record(record=record, stage=Stage.TITLE_ABSTRACT, screener=setup.s1,
                                       decision=Decision.INCLUDE)
    screening_services.decision_record(record=record, stage=Stage.TITLE_ABSTRACT, screener=setup.s2,
                                       decision=Decision.EXCLUDE)
    html = home_of(setup.tutor)
    assert task_count(html, "Title/abstract conflicts waiting for a tutor") == 1
    assert f"/reviews/{setup.review.slug}/screening/title_abstract/conflicts/" in html
    assert "left for me to screen" not in html  # the tutor does not screen here


def test_each_role_is_shown_only_its_own_work():
    setup = build_screening_review(slug="home-roles")
    extractor_home = home_of(setup.extractor)
    assert "Studies to extract" in extractor_home and "/extraction/" in extractor_home
    assert "/screening/" not in extractor_home and "/risk-of-bias/" not in extractor_home
    manager_home = home_of(setup.manager)
    for label in ("Import records", "Possible duplicates to decide", "Agreement between screeners"):
        assert label in manager_home
    assert "/conflicts/" not in manager_home  # conflicts are a tutor's page


def test_the_header_shows_a_review_menu_of_pages_the_viewer_may_open():
    setup = build_screening_review(slug="home-header")
    client = Client()
    client.force_login(setup.extractor)
    html = client.get(f"/reviews/{setup.review.slug}/extraction/").content.decode()
    menu = html[html.index('<nav class="review-menu"'):]
    menu = menu[:menu.index("</nav>")]
    assert "Extraction" in menu and "Screening" not in menu and "Risk of bias" not in menu
    assert "Back office" not in html  # not staff


def test_a_person_with_the_permission_starts_a_review_and_becomes_its_manager():
    creator = get_user_model().objects.create_user("home-creator", password="a-long-test-password", is_staff=True)
    creator.groups.add(managers_group_ensure())
    client = Client()
    client.force_login(creator)
    assert "Start a new review" in client.get("/").content.decode()
    response = client.post("/new-review/", {"title": "Peer support for carers", "question": "Does it help?"})
    assert response.status_code == 302 and response["Location"] == "/reviews/peer-support-for-carers/team/"
    review = Review.objects.get(slug="peer-support-for-carers")
    assert ReviewMembership.objects.filter(review=review, user=creator, role=Role.MANAGER).exists()
    again = client.post("/new-review/", {"title": "Peer support for carers"})
    assert again.status_code == 400 and "slug" in again.content.decode().lower()


def test_without_the_permission_no_review_is_started():
    person = get_user_model().objects.create_user("home-nobody", password="a-long-test-password")
    client = Client()
    client.force_login(person)
    assert "Start a new review" not in client.get("/").content.decode()
    response = client.post("/new-review/", {"title": "Not mine to start"})
    assert response.status_code == 403 and "permission to add reviews" in response.content.decode()
    assert not Review.objects.filter(title="Not mine to start").exists()


def test_the_extraction_counts_are_read_once_for_both_entries_that_show_them(monkeypatch):
    """An extractor sees "to extract" and "to agree": one read of the extraction work serves both."""
    from studies import selectors

    setup = build_screening_review(slug="home-once")
    calls = []
    real = selectors.extraction_work
    monkeypatch.setattr(selectors, "extraction_work", lambda **kw: calls.append(kw) or real(**kw))
    html = home_of(setup.extractor)
    assert "Studies to extract" in html and "Extractions to agree" in html
    assert len(calls) == 1
