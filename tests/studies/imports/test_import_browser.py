"""The upload page in a real browser (Debian's Chromium): the file goes up with a progress bar, the
preview shows what it holds (nothing imported yet), and the confirm imports it, as without JavaScript."""
from pathlib import Path

import pytest

from studies.models import DuplicateCandidate, ImportBatch, PendingImport, Record
from tests.analysis.test_pages_browser import WCAG, browser  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FIXTURES = Path(__file__).parent / "fixtures"


def signed_in_page(browser, live_server, small, **context):  # noqa: F811
    page = browser.new_context(**context).new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", small.manager.username)
    page.fill("#id_password", "a-long-test-password")
    page.click("input[type=submit]")
    return page


def upload(page, live_server, small, database: str, path: Path) -> None:
    page.goto(f"{live_server.url}/reviews/{small.review.slug}/imports/")
    page.fill("input[name=database]", database)
    page.fill("input[name=searched_on]", "2024-05-01")
    page.set_input_files("input[name=file]", str(path))
    with page.expect_request(lambda request: request.method == "POST") as sent:
        page.click("#import-form button[type=submit]")
    assert sent.value.resource_type == "xhr"  # sent by upload.js, which shows the progress
    page.wait_for_selector("#preview-h", timeout=30_000)


def test_manager_previews_then_confirms_with_progress_and_sees_the_summary(live_server, browser, small):  # noqa: F811
    page = signed_in_page(browser, live_server, small)
    upload(page, live_server, small, "Embase", FIXTURES / "embase_ovid.ris")
    assert "/imports/previews/" in page.url  # the preview has its own address (a reload does not re-upload)
    expected = int(page.locator("#preview-records").inner_text())
    assert expected > 0 and page.locator("ol.sample li").count() == min(expected, 5)
    assert not Record.objects.filter(review=small.review).exists()  # nothing written before the confirm
    with page.expect_request(lambda request: request.method == "POST") as sent:
        page.click("#confirm-form button[type=submit]")
    assert sent.value.resource_type == "xhr"
    page.wait_for_selector("#summary-h", timeout=30_000)
    imported = Record.objects.filter(review=small.review).count()
    assert imported == expected
    summary = page.locator("table.summary tr").first.inner_text()
    assert summary.split() == ["Imported", str(imported)]
    assert ImportBatch.objects.get(review=small.review).source.database == "Embase"
    assert not PendingImport.objects.exists()


def test_preview_and_queue_fit_a_phone_and_pass_the_accessibility_audit(live_server, browser, small, tmp_path):  # noqa: F811
    from axe_playwright_python.sync_playwright import Axe

    page = signed_in_page(browser, live_server, small, viewport={"width": 360, "height": 740})
    upload(page, live_server, small, "PubMed", FIXTURES / "pubmed.nbib")
    page.click("#confirm-form button[type=submit]")
    page.wait_for_selector("#summary-h", timeout=30_000)
    # The same papers again, one title word apart and with another DOI: a pair for a person.
    first = Record.objects.filter(review=small.review).order_by("pk").first()
    variant = (f"TY  - JOUR\nTI  - {first.title} revisited\nPY  - {first.year}\nAU  - Someone, Else\n"
               f"AB  - {'A long abstract word ' * 60}\nJO  - {'Journalofpeersupport' * 6}\n"
               f"DO  - 10.9999/another.{first.pk}\nER  - \n")  # a long unbroken word: it must wrap
    variant_file = tmp_path / "variant.ris"
    variant_file.write_text(variant)
    upload(page, live_server, small, "PsycInfo", variant_file)
    for where in ("preview", "queue"):
        if where == "queue":
            page.click("#confirm-form button[type=submit]")
            page.wait_for_selector("#summary-h", timeout=30_000)
            assert DuplicateCandidate.objects.filter(review=small.review, status="pending").exists()
            page.goto(f"{live_server.url}/reviews/{small.review.slug}/duplicates/")
            assert page.locator("section.pair").count() >= 1
            # The two records of a field stack under each other on a phone (side by side when wide).
            tops = page.evaluate("[...document.querySelectorAll('section.pair tbody tr:first-child td')]"
                                 ".map(td => td.getBoundingClientRect().top)")
            assert tops[1] > tops[0]
        results = Axe().run(page, options=WCAG)
        assert results.violations_count == 0, f"{where} at 360px:\n{results.generate_report()}"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), where
