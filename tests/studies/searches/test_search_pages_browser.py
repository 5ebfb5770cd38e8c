"""The searches pages in a real browser (Chromium via Playwright): a manager adds a search with the
form, pauses it, reads its run history; the pages pass axe's WCAG A/AA rules and do not scroll
sideways on a phone."""
from datetime import timedelta

from django.utils import timezone
import pytest

from studies.models import RunStatus, SavedSearch, SearchRun
from tests.analysis.test_pages_browser import browser  # noqa: F401 -- the Chromium fixture, shared
from tests.studies.team.test_team_browser import _audit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.mark.parametrize("width", [360, 1280])
def test_a_manager_adds_and_pauses_a_search_and_reads_its_history(live_server, browser, team, width):  # noqa: F811
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.goto(f"{live_server.url}/accounts/login/?next=/reviews/{team.review.slug}/searches/")
    page.fill("#id_username", team.manager.username)
    page.fill("#id_password", "a-long-test-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"**/reviews/{team.review.slug}/searches/")
    _audit(page, "searches page, empty")
    page.select_option("#id_database", "clinicaltrials")
    page.fill("#id_query", "peer support AND (stigma OR discrimination)")
    page.fill("#id_every_days", "14")
    page.click("text=Save the search")
    page.wait_for_selector("ul.messages li")
    search = SavedSearch.objects.get(review=team.review)
    assert (search.database, search.every_days, search.active) == ("clinicaltrials", 14, True)
    _audit(page, "searches page with a search")
    page.click(f"button[aria-label='Pause the ClinicalTrials.gov search {search.pk}']")
    page.wait_for_selector("text=Search paused")
    search.refresh_from_db()
    assert not search.active
    now = timezone.now()
    SearchRun.objects.create(search=search, status=RunStatus.FAILED, started_at=now - timedelta(days=1),
                             finished_at=now - timedelta(days=1), window_end=timezone.localdate(), query=search.query,
                             error="ClinicalTrials.gov sent an HTML page instead of JSON: Maintenance — The service "
                                   "is down for scheduled maintenance.")
    SearchRun.objects.create(search=search, status=RunStatus.SUCCEEDED, started_at=now, finished_at=now,
                             window_end=timezone.localdate(), query=search.query, found=31, new=27, duplicates=4)
    page.click("text=ClinicalTrials.gov")
    page.wait_for_selector("h2#history-h")
    assert "scheduled maintenance" in page.text_content("table")
    _audit(page, "a search's history")
