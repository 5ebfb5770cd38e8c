"""The upload page in a real browser (Debian's Chromium): the file goes up with a progress bar and the
summary replaces the page, as without JavaScript."""
from pathlib import Path

import pytest

from studies.models import ImportBatch, Record
from tests.analysis.test_pages_browser import browser  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FIXTURES = Path(__file__).parent / "fixtures"


def test_manager_imports_a_file_with_progress_and_sees_the_summary(live_server, browser, small):  # noqa: F811
    page = browser.new_context().new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", small.manager.username)
    page.fill("#id_password", "a-long-test-password")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/reviews/{small.review.slug}/imports/")
    page.fill("input[name=database]", "Embase")
    page.fill("input[name=searched_on]", "2024-05-01")
    page.set_input_files("input[name=file]", str(FIXTURES / "embase_ovid.ris"))
    with page.expect_request(lambda request: request.method == "POST") as sent:
        page.click("#import-form button[type=submit]")
    assert sent.value.resource_type == "xhr"  # sent by upload.js, which shows the progress
    page.wait_for_selector("#summary-h", timeout=30_000)
    imported = Record.objects.filter(review=small.review).count()
    assert imported > 0
    summary = page.locator("table.summary tr").first.inner_text()
    assert summary.split() == ["Imported", str(imported)]
    assert ImportBatch.objects.get(review=small.review).source.database == "Embase"
