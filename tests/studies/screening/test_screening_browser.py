"""Screening in a real browser (Debian's Chromium via Playwright) against a live server: two
screeners in two browser contexts judge the same record differently with the keyboard, the tutor
resolves the conflict, and the PRISMA diagram's counts change."""
import os
import xml.etree.ElementTree as ET

from playwright import sync_api as playwright_api
import pytest

from studies.models import Decision, ScreeningDecision, ScreeningResolution, Stage
from studies.services import entity_save
from studies.services import screening as services
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


def signed_in(browser, base: str, user, width: int = 1200, height: int = 900):
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
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
    assert "Records awaiting screening (n = 3)" in before and "Reports sought for retrieval (n = 0)" in before

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
    assert "Records awaiting screening (n = 2)" in after and "Reports sought for retrieval (n = 1)" in after
    assert after != before
    # The public review page embeds the diagram, and it loads.
    tutor.goto(f"{base}/reviews/{setup.review.slug}/")
    image = tutor.locator("figure.prisma img")
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")


def test_full_text_exclusion_by_keyboard_e_number_enter_with_no_focus_trap(live_server, browser):
    setup = build_screening_review(slug="browser-fulltext-keys", n_records=3)
    first, second = setup.records[:2]
    for record in (first, second):
        for screener in (setup.s1, setup.s2):
            services.decision_record(record=record, stage=Stage.TITLE_ABSTRACT, screener=screener,
                                     decision=Decision.INCLUDE)
    base = live_server.url
    url = f"{base}/reviews/{setup.review.slug}/screening/full_text/?record={first.pk}"
    page = signed_in(browser, base, setup.s1)
    page.goto(url)
    prompt = page.locator("#exclude-prompt")
    assert not prompt.is_visible()
    page.keyboard.press("e")  # no reason yet: arms the exclusion and shows the numbered reasons
    assert prompt.is_visible() and "Not peer-led" in prompt.inner_text()
    assert page.evaluate("document.activeElement.tagName") == "BODY"  # focus stays out of the list
    page.keyboard.press("e")  # a second "e" neither submits nor is swallowed by the list
    assert page.evaluate("document.activeElement.tagName") == "BODY" and prompt.is_visible()
    assert not ScreeningDecision.objects.filter(record=first, stage=Stage.FULL_TEXT).exists()
    page.keyboard.press("2")
    assert "Reason 2: Not peer-led" in prompt.inner_text()
    page.keyboard.press("Enter")
    page.wait_for_url(lambda u: "saved=" in u)
    decision = ScreeningDecision.objects.get(record=first, stage=Stage.FULL_TEXT, screener=setup.s1)
    assert (decision.decision, decision.exclusion_reason) == (Decision.EXCLUDE, setup.reasons[1])
    saved = page.locator("section.saved[role=status]")
    assert "Exclude (Not peer-led)" in saved.inner_text() and first.title in saved.inner_text()
    # Esc cancels an armed exclusion and leaves no reason chosen; the keys still work afterwards.
    page.goto(f"{base}/reviews/{setup.review.slug}/screening/full_text/?record={second.pk}")
    page.keyboard.press("e")
    page.keyboard.press("3")
    page.keyboard.press("Escape")
    assert not page.locator("#exclude-prompt").is_visible()
    assert page.locator("#reason").input_value() == ""
    # Typing in the note is typing: "e" and digits go into the note, not to the shortcuts.
    page.locator("textarea[name=note]").type("e2 e")
    assert page.locator("textarea[name=note]").input_value() == "e2 e"
    assert not page.locator("#exclude-prompt").is_visible()
    page.locator("body").click()
    page.keyboard.press("i")
    page.wait_for_url(lambda u: "saved=" in u)
    assert ScreeningDecision.objects.get(record=second, stage=Stage.FULL_TEXT, screener=setup.s1).note == "e2 e"


def test_the_screening_pages_fit_a_phone_without_sideways_scrolling_and_pass_axe(live_server, browser):
    setup = build_screening_review(slug="browser-phone-width-with-a-long-slug", n_records=4)
    conflict, included = setup.records[:2]
    # Long unbroken strings, as real records have: a DOI, a trial registry URL in the title.
    conflict.doi = "10.1000/" + "peer-support-randomised-controlled-trial-" * 3
    conflict.title += " https://clinicaltrials.example.org/study/NCT01234567-long-registry-entry-name"
    entity_save(instance=conflict)
    services.decision_record(record=conflict, stage=Stage.TITLE_ABSTRACT, screener=setup.s1,
                             decision=Decision.INCLUDE, note="A long note: " + "peer-support " * 20)
    services.decision_record(record=conflict, stage=Stage.TITLE_ABSTRACT, screener=setup.s2, decision=Decision.EXCLUDE)
    for stage in (Stage.TITLE_ABSTRACT, Stage.FULL_TEXT):
        for screener in (setup.s1, setup.s2):
            services.decision_record(record=included, stage=stage, screener=screener, decision=Decision.INCLUDE)
    services.report_link(record=included, user=setup.tutor, new_study_label="Peer 2020")
    slug, base = setup.review.slug, live_server.url
    pages = {
        setup.s1: [f"/reviews/{slug}/screening/", f"/reviews/{slug}/screening/title_abstract/",
                   f"/reviews/{slug}/screening/title_abstract/?record={conflict.pk}",
                   f"/reviews/{slug}/screening/full_text/?record={included.pk}", f"/reviews/{slug}/screening/mine/"],
        setup.tutor: [f"/reviews/{slug}/screening/", f"/reviews/{slug}/screening/title_abstract/conflicts/",
                      f"/reviews/{slug}/screening/included/"],
    }
    from axe_playwright_python.sync_playwright import Axe

    wcag = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
    for user, paths in pages.items():
        page = signed_in(browser, base, user, width=360, height=740)
        for path in paths:
            page.goto(base + path)
            assert page.locator("main h1").count() >= 1, path
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"{path} is {width} px wide at a 360 px viewport"
            results = Axe().run(page, options=wcag)
            assert results.violations_count == 0, f"{path}:\n{results.generate_report()}"
