"""The manager's prioritisation page in a real browser: accessible (axe, WCAG 2.1 AA) on a phone and a
wide window, the recall curve drawn, and the order switched by the form."""
import pytest

from studies import selectors
from studies.models import Decision, Record, Stage
from studies.services import entity_save
from studies.services import screening as services
from tests.studies.screening.conftest import build_screening_review
from tests.studies.screening.test_prioritisation import TOPICS
from tests.studies.screening.test_screening_browser import browser, signed_in  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1440, 900)])
def test_the_prioritisation_page_is_accessible_and_switches_the_order(live_server, browser, width, height):  # noqa: F811
    from axe_playwright_python.sync_playwright import Axe

    setup = build_screening_review(slug=f"ranked-browser-{width}", n_records=1)
    records = [entity_save(instance=Record(review=setup.review, title=title, abstract=abstract, year=2021))
               for title, abstract in TOPICS]
    for index, verdict in ((0, Decision.INCLUDE), (1, Decision.EXCLUDE)):
        for screener in (setup.s1, setup.s2):
            services.decision_record(record=records[index], stage=Stage.TITLE_ABSTRACT, screener=screener,
                                     decision=verdict)
    page = signed_in(browser, live_server.url, setup.manager, width, height)
    page.goto(f"{live_server.url}/reviews/{setup.review.slug}/screening/prioritisation/")
    assert page.locator("svg.recall-curve polyline").count() == 1
    results = Axe().run(page, options=WCAG)
    assert results.violations_count == 0, results.generate_report()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.check("input[name=order][value=ranked]")
    page.click("form:has(input[value=order]) button[type=submit]")
    page.wait_for_load_state()
    assert "Ranked since" in page.content()
    assert selectors.screening_ranked(setup.review)
