"""Release pages in a real browser (Chromium via Playwright): accessible (axe-core, WCAG 2.1 AA) on a
phone and a wide window, nothing wider than the window, and a manager cuts a release from the page."""
from django.core.management import call_command
import pytest

from analysis import services
from analysis.models import Release
from studies.models import ArmRole, OutcomeData
from studies.services import entity_save
from studies.services.demo import demo_review_load
from tests.analysis.test_pages_browser import PASSWORD, WCAG, browser  # noqa: F401 -- the browser fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def released_demo(db):
    """The demo review with two releases (1.0.0, then 1.0.1 after a corrected mean)."""
    review, _ = demo_review_load(password=PASSWORD)
    services.review_recompute(review.pk)
    call_command("release_create", review=review.slug, note="The first release of the demo.", wait=0)
    row = OutcomeData.objects.filter(study__review=review, outcome__name="Self-stigma",
                                     arm__role=ArmRole.INTERVENTION).order_by("pk").first()
    row.mean -= 0.5
    entity_save(instance=row)
    services.review_recompute(review.pk)
    call_command("release_create", review=review.slug, wait=0)
    return review


# A phone and a wide window, in one test: the released demo (the costly part) is built once.
WINDOWS = [(390, 844), (1440, 900)]


def test_release_pages_pass_an_automated_accessibility_audit(live_server, browser, released_demo):  # noqa: F811
    from axe_playwright_python.sync_playwright import Axe

    outcome = released_demo.outcomes.get(name="Self-stigma")
    slug = released_demo.slug
    versions = sorted(Release.objects.filter(review=released_demo).values_list("patch", flat=True))
    assert versions == [0, 1]
    for width, height in WINDOWS:
        page = browser.new_context(viewport={"width": width, "height": height}).new_page()
        for path in (f"/reviews/{slug}/releases/", f"/reviews/{slug}/releases/1.0.0/",
                     f"/reviews/{slug}/releases/1.0.0/outcomes/{outcome.pk}/",
                     f"/reviews/{slug}/releases/compare/?from=1.0.0&to=living"):
            page.goto(live_server.url + path)
            results = Axe().run(page, options=WCAG)
            assert results.violations_count == 0, f"{path} at {width}px:\n{results.generate_report()}"
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), \
                f"{path} at {width}px"
        # The release's figures are drawn from the snapshot (the PRISMA image loads from the release).
        page.goto(f"{live_server.url}/reviews/{slug}/releases/1.0.0/")
        assert page.locator(f"img[src='/reviews/{slug}/releases/1.0.0/prisma.svg']").evaluate(
            "img => img.naturalWidth") > 0, f"at {width}px"
        page.context.close()


def test_a_manager_cuts_a_release_from_the_releases_page(live_server, browser, released_demo):  # noqa: F811
    page = browser.new_context().new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "demo-manager")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.goto(f"{live_server.url}/reviews/{released_demo.slug}/releases/")
    page.click("text=Cut the next release")
    assert "Nothing changed since release 1.0.1" in page.locator("[role=status]").text_content()
    page.fill("#every-days", "14")
    page.click("text=Save the schedule")
    assert "every 14 days" in page.locator("[role=status]").text_content()
    assert Release.objects.filter(review=released_demo).count() == 2
