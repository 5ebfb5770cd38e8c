"""The audit trail page in a real browser (Debian's Chromium via Playwright): usable on a phone (no
sideways scrolling of the page, even with a long value unfolded), accessible by axe-core's WCAG 2.1 AA
rules, and its filter form is a plain GET form that needs no script."""
import pytest
from axe_playwright_python.sync_playwright import Axe

from studies.models import Review
from studies.services.demo import demo_review_load
from tests.studies.screening.test_screening_browser import browser  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "synthetic-demo-review"
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


# A phone and a wide window, in one test: the demo review (the costly part) is loaded once.
WINDOWS = [(360, 780), (1280, 900)]


def test_the_audit_page_fits_a_phone_and_passes_an_accessibility_audit(live_server, browser):  # noqa: F811
    review, _ = demo_review_load(password=PASSWORD)
    Review.objects.filter(pk=review.pk).update(question="Does peer support reduce self-stigma? " * 8)  # long
    for width, height in WINDOWS:
        audit_page_check(live_server, browser, review, width, height)


def audit_page_check(live_server, browser, review, width: int, height: int) -> None:  # noqa: F811
    """The checks at one window size (a failure names the size in its traceback)."""
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.goto(f"{live_server.url}/accounts/login/?next=/reviews/{review.slug}/audit/")
    page.fill("#id_username", "demo-manager")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/reviews/{review.slug}/audit/")
    assert page.locator("tr[data-event]").count() == 50
    page.locator("details").first.locator("summary").click()  # a long value, unfolded
    assert page.locator("details[open] .full").first.is_visible()
    results = Axe().run(page, options=WCAG)
    assert results.violations_count == 0, results.generate_report()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    # The filters: a plain GET form (the page has no script).
    assert page.locator("script").count() == 0
    page.select_option("#id_entity", label="Screening decision")
    page.select_option("#id_action", label="added")
    page.click("form.audit-filters button[type=submit]")
    page.wait_for_url("**entity=decision**")
    assert page.locator("#id_entity").input_value() == "decision"  # the form keeps its values
    whats = page.locator("td[data-label=What] strong").all_inner_texts()
    assert whats and set(whats) == {"Screening decision"}
    assert set(page.locator("td[data-label=Change]").all_inner_texts()) == {"added"}
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
