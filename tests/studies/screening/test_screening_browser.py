"""Screening in a real browser (Debian's Chromium via Playwright) against a live server: two
screeners in two browser contexts judge the same record differently with the keyboard, the tutor
resolves the conflict, and the PRISMA diagram's counts change."""
import os
import xml.etree.ElementTree as ET

from playwright import sync_api as playwright_api
import pytest

from studies.models import ScreeningDecision, ScreeningResolution, Stage
from tests.studies.screening.conftest import PASSWORD, build_screening_review

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def browser():
    assert os.path.exists("/usr/bin/chromium"), "The browser tests need Debian's chromium: apt-get install chromium"
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def signed_in(browser, base: str, user):
    page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


def prisma_texts(page, url: str) -> str:
    svg = page.request.get(url).text()
    return " ".join(t.text or "" for t in ET.fromstring(svg.split("\n", 1)[1]).iter(f"{SVG}text"))


def test_two_screeners_disagree_by_keyboard_and_the_tutor_resolves(live_server, browser):
    setup = build_screening_review(slug="browser-screening", n_records=3, is_public=True)
    record = setup.records[1]
    base = live_server.url
    screen_url = f"{base}/reviews/{setup.review.slug}/screening/title_abstract/?record={record.pk}"
    prisma_url = f"{base}/reviews/{setup.review.slug}/prisma.svg"

    first = signed_in(browser, base, setup.s1)
    second = signed_in(browser, base, setup.s2)
    tutor = signed_in(browser, base, setup.tutor)
    before = prisma_texts(tutor, prisma_url)
    assert "Awaiting screening (n = 3)" in before and "Reports sought for retrieval (n = 0)" in before

    first.goto(screen_url)
    assert first.locator("mark.include").first.inner_text().lower() in ("randomised", "peer")
    first.keyboard.press("c")  # the criteria, one key away
    assert first.locator("details.criteria").evaluate("d => d.open")
    first.keyboard.press("e")
    first.wait_for_url(lambda url: "after=" in url)
    # Undo by keyboard takes the first screener back to the record (the second has not decided yet),
    # and they decide again.
    first.keyboard.press("z")
    first.wait_for_url(lambda url: f"record={record.pk}" in url)
    assert not ScreeningDecision.objects.filter(record=record).exists()
    first.keyboard.press("i")
    first.wait_for_url(lambda url: "after=" in url)
    second.goto(screen_url)
    assert "Your decision" not in second.content()  # nothing of the first screener's vote
    second.keyboard.press("e")
    second.wait_for_url(lambda url: "after=" in url)
    votes = dict(ScreeningDecision.objects.filter(record=record, stage=Stage.TITLE_ABSTRACT)
                 .values_list("screener__username", "decision"))
    assert votes == {setup.s1.username: "include", setup.s2.username: "exclude"}
    # Now the pair is complete: undo is refused, and the conflict goes to the tutor as it is.
    second.keyboard.press("z")
    second.wait_for_url(lambda url: url.endswith("/undo/"))
    second.wait_for_load_state()
    assert "Both screeners have decided" in second.content()
    assert ScreeningDecision.objects.filter(record=record).count() == 2

    tutor.goto(f"{base}/reviews/{setup.review.slug}/screening/title_abstract/conflicts/")
    conflict = tutor.locator(f"section.conflict[data-record='{record.pk}']")
    assert conflict.locator("table.votes tbody tr").count() == 2
    conflict.locator("textarea[name=rationale]").fill("Randomised, peer-led: meets the criteria.")
    conflict.locator("button[value=include]").click()
    tutor.wait_for_load_state()
    assert "No conflicts wait" in tutor.content()
    assert ScreeningResolution.objects.get(record=record).decision == "include"

    after = prisma_texts(tutor, prisma_url)
    assert "Awaiting screening (n = 2)" in after and "Reports sought for retrieval (n = 1)" in after
    assert after != before
    # The public review page embeds the diagram, and it loads.
    tutor.goto(f"{base}/reviews/{setup.review.slug}/")
    image = tutor.locator("figure.prisma img")
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
