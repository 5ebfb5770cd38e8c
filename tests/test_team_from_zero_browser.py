"""A real team from zero, in a real browser (Debian's Chromium via Playwright, issue 18): a manager
signs in, starts a review, imports a real export, invites two screeners, a tutor, an extractor and an
assessor (links read from the outbox); each accepts and sets a password; the screeners screen with
the keyboard; the tutor resolves their conflict; extractor and assessor reach their pages from their
home. Nobody uses a shell or the back office, and axe finds no serious or critical violation on any of
these pages."""
import re

from django.contrib.auth import get_user_model
from django.core import mail
import pytest

from studies.models import (
    Decision, Record, Review, ReviewMembership, Role, ScreeningDecision, ScreeningResolution, Stage,
)
from studies.services.reviews import back_office_grant
from tests.analysis.test_pages_browser import browser  # noqa: F401 -- the Chromium fixture, shared
from tests.shared_data import SHARED_DATA

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EXPORT = SHARED_DATA / "exports" / "medline_84.ris"  # a real MEDLINE (RIS) export, 84 records
PASSWORD = "a-long-team-password-2026"
LINK = re.compile(r"https?://\S+/invitations/\S+/")
SERIOUS = ("serious", "critical")
TEAM = [("screener-one", Role.SCREENER), ("screener-two", Role.SCREENER), ("the-tutor", Role.TUTOR),
        ("the-extractor", Role.EXTRACTOR), ("the-assessor", Role.ASSESSOR)]


def audited(page, where: str) -> None:
    """axe-core on the page as it stands: no serious or critical violation, nothing wider than the
    window."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v.get("impact") in SERIOUS]
    assert not serious, f"{where}: {[(v['id'], v['impact'], v['help']) for v in serious]}"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), where


def new_page(browser, width: int = 1280):  # noqa: F811
    return browser.new_context(viewport={"width": width, "height": 900}).new_page()


def test_a_team_starts_from_zero_in_the_browser(live_server, browser):  # noqa: F811
    base = live_server.url
    mail.outbox = []
    # The one account that exists: a person the site's administrator allowed to start reviews.
    founder = get_user_model().objects.create_user("founder", email="founder@example.org", password=PASSWORD)
    back_office_grant(user=founder)

    manager = new_page(browser)
    manager.goto(f"{base}/accounts/login/")
    audited(manager, "sign-in page")
    manager.fill("#id_username", "founder")
    manager.fill("#id_password", PASSWORD)
    manager.click("button[type=submit]")
    manager.wait_for_url(f"{base}/")
    manager.click("text=Start a new review")
    audited(manager, "start a review")
    manager.fill("#id_title", "Peer support for carers of people with dementia")
    manager.click("text=Start the review")
    manager.wait_for_url("**/team/")
    review = Review.objects.get(title="Peer support for carers of people with dementia")
    assert ReviewMembership.objects.filter(review=review, user=founder, role=Role.MANAGER).exists()

    # A real export, through the preview and its confirmation; reached from the review's menu.
    manager.click("nav.review-menu >> text=Imports")
    manager.fill("input[name=database]", "MEDLINE")
    manager.fill("input[name=searched_on]", "2026-11-30")
    manager.set_input_files("input[name=file]", str(EXPORT))
    manager.click("#import-form button[type=submit]")
    manager.wait_for_selector("#preview-h", timeout=30_000)
    audited(manager, "import preview")
    manager.click("#confirm-form button[type=submit]")
    manager.wait_for_selector("#summary-h", timeout=30_000)
    audited(manager, "import summary")
    records = Record.objects.filter(review=review)
    assert records.count() == 84

    # The team, invited from the team page; each link read from the mail.
    manager.click("nav.review-menu >> text=Team")
    audited(manager, "team page")
    links = {}
    for name, role in TEAM:
        manager.fill("input[name=email]", f"{name}@example.org")
        manager.check(f"input[name=roles][value={role}]")
        manager.click("text=Send invitation")
        manager.wait_for_selector(f"text=Invitation sent to {name}@example.org")
        links[name] = LINK.search(mail.outbox[-1].body).group(0)
    assert len(mail.outbox) == len(TEAM)
    audited(manager, "team page with invitations")

    pages = {}
    for name, role in TEAM:
        page = new_page(browser, width=360 if name == "screener-two" else 1280)  # one of them on a phone
        page.goto(links[name])
        audited(page, f"invitation of {name}")
        page.fill("#id_username", name)
        page.fill("#id_password1", PASSWORD)
        page.fill("#id_password2", PASSWORD)
        page.click("text=Create the account and join")
        page.wait_for_url(f"{base}/")
        assert name in page.text_content("header.site")
        audited(page, f"home of {name}")
        pages[name] = page
        assert ReviewMembership.objects.filter(review=review, user__username=name, role=role).exists()

    # Both screeners judge the same record by keyboard, differently: a conflict.
    record = records.order_by("pk").first()
    for name, key in (("screener-one", "i"), ("screener-two", "e")):
        page = pages[name]
        page.click("text=Titles and abstracts left for me to screen")
        page.wait_for_selector("article.record")
        audited(page, f"screening page of {name}")
        page.goto(page.url.split("?")[0] + f"?record={record.pk}")
        with page.expect_navigation():
            page.keyboard.press(key)
    decisions = dict(ScreeningDecision.objects.filter(record=record, stage=Stage.TITLE_ABSTRACT)
                     .values_list("screener__username", "decision"))
    assert decisions == {"screener-one": Decision.INCLUDE, "screener-two": Decision.EXCLUDE}

    # The tutor finds it from home and resolves it.
    tutor = pages["the-tutor"]
    tutor.goto(f"{base}/")
    tutor.click("text=Title/abstract conflicts waiting for a tutor")
    tutor.wait_for_selector(f"#record-{record.pk}")
    audited(tutor, "conflicts page")
    tutor.fill(f"#record-{record.pk} textarea[name=rationale]", "A randomised trial of peer support: include.")
    tutor.click(f"#record-{record.pk} button[value=include]")
    tutor.wait_for_selector("text=Resolved:")
    resolution = ScreeningResolution.objects.get(record=record, stage=Stage.TITLE_ABSTRACT)
    assert resolution.decision == Decision.INCLUDE and resolution.tutor.username == "the-tutor"

    # Extractor and assessor reach their pages from their home, by links alone.
    for name, label, heading in (("the-extractor", "Studies to extract", "Extraction"),
                                 ("the-assessor", "Risk-of-bias assessments to do", "Risk of bias")):
        page = pages[name]
        page.goto(f"{base}/")
        page.click(f"text={label}")
        assert heading.lower() in page.text_content("h1").lower()
        audited(page, f"{heading} page of {name}")
