"""The reader pages in a real browser (Chromium via Playwright) against a live server and a real
Celery worker: an open page shows new results without a reload after a manager edits the data."""
import os

from django.contrib.auth import get_user_model
from playwright import sync_api as playwright_api
import pytest

from analysis import services
from analysis.engine.formatting import format_effect_ci
from analysis.engine.options import Measure
from analysis.models import OutcomeResult, ReviewAnalysisState
from studies.models import ArmRole, OutcomeData
from studies.services.demo import demo_review_load
from tests.analysis.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "synthetic-demo-review"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def current_total(review_id: int, outcome_id: int) -> str:
    state = ReviewAnalysisState.objects.get(review_id=review_id)
    result = OutcomeResult.objects.get(run=state.current_run, outcome_id=outcome_id, subgroup_field=None, analysis_set="main")
    return format_effect_ci(result.estimate, result.ci_low, result.ci_high, Measure("SMD"))


@pytest.fixture
def browser():
    # A missing browser is a failed test, not a skipped one: `./dev test` installs Debian's chromium.
    assert os.path.exists("/usr/bin/chromium"), "The browser tests need Debian's chromium: apt-get install chromium"
    # Django refuses synchronous ORM calls while an event loop runs in the thread; Playwright's sync
    # API keeps one running, and the test's own ORM calls are synchronous by design.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def test_an_open_page_shows_the_new_pooled_result_without_a_reload(live_server, worker, browser):
    review, _ = demo_review_load(password=PASSWORD)
    wait_for(lambda: not services.review_is_behind(review.pk), 90, "the worker to compute the demo review")
    # A study that never needed a second look (the demo's manager confirmed one far from the others).
    row = (OutcomeData.objects.filter(study__review=review, outcome__name="Self-stigma", arm__role=ArmRole.INTERVENTION,
                                      checked_by__isnull=True)
           .select_related("study", "outcome").order_by("study__label").first())
    outcome_id = row.outcome_id
    before = current_total(review.pk, outcome_id)

    reader = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    reader.goto(f"{live_server.url}/reviews/{review.slug}/outcomes/{outcome_id}/")
    forest = reader.locator("svg.forest").first
    expected_studies = [s["study"] for s in OutcomeResult.objects.get(
        run=ReviewAnalysisState.objects.get(review=review).current_run, outcome_id=outcome_id,
        subgroup_field=None, analysis_set="main").payload["studies"]]
    shown = forest.locator("g.study").evaluate_all("gs => gs.map(g => g.dataset.study)")
    assert shown == expected_studies and len(shown) == 7
    total = forest.locator("g.total text.effect")
    assert total.text_content() == before
    assert forest.locator("g.total polygon.diamond").count() == 1
    reader.evaluate("window.__notReloaded = true")
    reader.mouse.wheel(0, 600)
    reader.wait_for_function("() => window.scrollY > 0")  # a function: a bare expression is eval()ed, which the CSP forbids
    scrolled = reader.evaluate("window.scrollY")

    # A manager, in another browser context, changes one arm's mean in the admin (by a plausible amount:
    # a change that makes the study an outlier is held for a second look, tests/studies/test_plausibility.py).
    admin = browser.new_context().new_page()
    admin.goto(f"{live_server.url}/admin/login/")
    admin.fill("#id_username", "demo-manager")
    admin.fill("#id_password", PASSWORD)
    admin.click("input[type=submit]")
    admin.goto(f"{live_server.url}/admin/studies/outcomedata/{row.pk}/change/")
    admin.fill("#id_mean", str(row.mean - 3))
    admin.click("input[name=_save]")
    admin.wait_for_url(lambda url: "/change/" not in url)
    assert OutcomeData.objects.get(pk=row.pk).mean == pytest.approx(row.mean - 3)
    assert OutcomeData.objects.get(pk=row.pk).check_state == "confirmed"

    wait_for(lambda: not services.review_is_behind(review.pk), 60, "the worker to recompute")
    after = current_total(review.pk, outcome_id)
    assert after != before
    reader.wait_for_function(
        "expected => document.querySelector('svg.forest g.total text.effect').textContent === expected",
        arg=after, timeout=30_000)
    assert reader.evaluate("window.__notReloaded") is True  # swapped in place, not reloaded
    assert abs(reader.evaluate("window.scrollY") - scrolled) < 5
    assert reader.locator("#analysis-status [data-updating]").is_hidden()
    assert get_user_model().objects.filter(username="demo-manager").exists()


@pytest.fixture
def computed_demo(db):
    review, _ = demo_review_load(password=PASSWORD)
    services.review_recompute(review.pk)
    return review


# axe-core's rules for WCAG 2.1 A and AA: text alternatives, headings, contrast, names of controls,
# landmarks, language; run on a phone-sized and a wide window (layouts differ).
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}

# Every element whose right edge passes the window's (none may: no sideways scrolling anywhere, not
# even inside a container). Closed <details> are opened first, so what they hide is measured too.
WIDER_THAN_THE_WINDOW = """() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const width = window.innerWidth, found = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 0.5) {
      const name = el.className && el.className.baseVal === undefined ? `.${el.className}` : '';
      found.push(`${el.tagName.toLowerCase()}${name} right=${Math.round(box.right)}`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: width, wider: found.slice(0, 10)};
}"""


# A phone, a tablet and a wide window, in one test: the computed demo (the costly part) is built once.
WINDOWS = [(360, 740), (768, 1024), (1280, 900)]


def test_reader_pages_fit_the_window_and_pass_an_automated_accessibility_audit(live_server, browser, computed_demo):
    for width, height in WINDOWS:
        reader_pages_check(live_server, browser, computed_demo, width, height)


def reader_pages_check(live_server, browser, computed_demo, width: int, height: int) -> None:
    """The checks at one window size (a failure names the size)."""
    from axe_playwright_python.sync_playwright import Axe

    outcome = computed_demo.outcomes.get(name="Self-stigma")
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    for path in (f"/reviews/{computed_demo.slug}/", f"/reviews/{computed_demo.slug}/outcomes/{outcome.pk}/",
                 f"/reviews/{computed_demo.slug}/prisma/", f"/reviews/{computed_demo.slug}/summary-of-findings/"):
        page.goto(live_server.url + path)
        results = Axe().run(page, options=WCAG)
        assert results.violations_count == 0, f"{path} at {width}px:\n{results.generate_report()}"
        measured = page.evaluate(WIDER_THAN_THE_WINDOW)
        assert measured["scrollWidth"] <= measured["innerWidth"], (path, width, measured)
        assert measured["wider"] == [], (path, width, measured)
        # Every figure is scaled into the column, with a link to open it full size.
        rights = page.locator("main figure svg").evaluate_all("svgs => svgs.map(s => s.getBoundingClientRect().right)")
        assert all(right <= width for right in rights), (path, rights)
        figures = page.locator("main figure").count()
        assert page.locator("main figure figcaption a", has_text="Open full size").count() == figures, path
    # The summary of findings: a table on a wide screen, a card per outcome on a phone, its pooled result on screen.
    page.goto(f"{live_server.url}/reviews/{computed_demo.slug}/")
    effect = page.locator(f'table.sof tr[data-outcome="{outcome.pk}"] td.effect')
    assert effect.evaluate("td => getComputedStyle(td).display") == ("table-cell" if width >= 1000 else "grid")
    box = effect.bounding_box()
    assert 0 <= box["x"] and box["x"] + box["width"] <= width
    # The audit does see faults: a page without its language fails it.
    page.evaluate("document.documentElement.removeAttribute('lang')")
    assert Axe().run(page, options=WCAG).violations_count == 1
    page.context.close()


def test_figures_download_as_png_drawn_by_the_browser(live_server, browser, computed_demo):
    outcome = computed_demo.outcomes.get(name="Self-stigma")
    page = browser.new_context(accept_downloads=True).new_page()
    page.goto(f"{live_server.url}/reviews/{computed_demo.slug}/outcomes/{outcome.pk}/")
    svg_size = page.evaluate("(() => { const s = document.querySelector('svg.forest');"
                             " return [+s.getAttribute('width'), +s.getAttribute('height')]; })()")
    link = page.locator("figure.plot a[data-png-from]").first
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "forest-plot-self-stigma.png"
    data = open(download.path(), "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")  # IHDR
    assert (width, height) == (round(svg_size[0] * 2), round(svg_size[1] * 2))
