"""The parity report page and the RevMan downloads: who may see them, and what they show."""
import os
from xml.etree.ElementTree import fromstring

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from test_rm5_import import FLEISS

from studies.models import Role
from studies.services import membership_add
from studies.services.revman import rm5_import


@pytest.fixture
def imported(db):
    users = get_user_model().objects
    manager = users.create_user("rm5-manager", password="pw-rm5-manager")
    screener = users.create_user("rm5-screener", password="pw-rm5-screener")
    outsider = users.create_user("rm5-outsider", password="pw-rm5-outsider")
    review = rm5_import(content=FLEISS.read_bytes(), file_name="Fleiss1993.rm5", slug="fleiss-page",
                        created_by=manager).review
    membership_add(review=review, user=screener, role=Role.SCREENER)
    return review, manager, screener, outsider


def test_team_reads_the_parity_report(client, imported):
    review, _, screener, _ = imported
    client.force_login(screener)
    page = client.get(f"/reviews/{review.slug}/revman/parity/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "37</strong> numbers checked: <strong>37</strong> equal, <strong>0</strong> different" in text
    assert "Analysis 1.1: Aspirin for Preventing Death after Myocardial Infarction" in text
    assert "RevMan&#x27;s approximation of the tail" in text
    assert "Not checked: RevMan stored no results" in text
    assert "Download the review" not in text  # exports are the managers'


def test_outsiders_do_not_learn_the_review_exists(client, imported):
    review, _, _, outsider = imported
    client.force_login(outsider)
    for path in ("revman/parity/", "revman/export.rm5", "revman/study-data.csv"):
        assert client.get(f"/reviews/{review.slug}/{path}").status_code == 404


def test_only_managers_download_the_review(client, imported):
    review, manager, screener, _ = imported
    client.force_login(screener)
    assert client.get(f"/reviews/{review.slug}/revman/export.rm5").status_code == 403
    client.force_login(manager)
    response = client.get(f"/reviews/{review.slug}/revman/export.rm5")
    assert response.status_code == 200 and "fleiss-page.rm5" in response["Content-Disposition"]
    assert fromstring(response.content).find("ANALYSES_AND_DATA/COMPARISON/DICH_OUTCOME").get("EFFECT_MEASURE") == "OR"
    csv = client.get(f"/reviews/{review.slug}/revman/study-data.csv")
    assert csv.status_code == 200 and csv.content.decode().count("\n") == 1 + 7 + 5


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_parity_page_passes_an_automated_accessibility_audit(live_server, imported):
    from axe_playwright_python.sync_playwright import Axe
    from playwright import sync_api as playwright_api

    review, manager, _, _ = imported
    session = Client()
    session.force_login(manager)
    assert os.path.exists("/usr/bin/chromium"), "The browser tests need Debian's chromium: apt-get install chromium"
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with playwright_api.sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            for width, height in ((390, 844), (1440, 900)):
                context = chromium.new_context(viewport={"width": width, "height": height})
                context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": live_server.url,
                                      "value": session.cookies[settings.SESSION_COOKIE_NAME].value}])
                page = context.new_page()
                page.goto(f"{live_server.url}/reviews/{review.slug}/revman/parity/")
                assert page.locator("#summary").inner_text().startswith("37 numbers checked")
                results = Axe().run(page, options={"runOnly": {"type": "tag", "values": [
                    "wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
                assert results.violations_count == 0, results.generate_report()
            chromium.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def test_an_imported_review_is_computed_and_its_reader_pages_open(client, db):
    # The living analysis computes the imported review and every outcome page opens, the generic
    # inverse-variance one too (which the living analysis does not pool yet).
    from test_rm5_import import HAND_MADE

    from analysis import services

    manager = get_user_model().objects.create_user("rm5-reader", password="pw-rm5-reader")
    review = rm5_import(content=HAND_MADE, file_name="hand.rm5", slug="hand-pages", created_by=manager).review
    services.review_recompute(review.pk)
    client.force_login(manager)
    assert client.get(f"/reviews/{review.slug}/").status_code == 200
    for outcome in review.outcomes.all():
        page = client.get(f"/reviews/{review.slug}/outcomes/{outcome.pk}/")
        assert page.status_code == 200, (outcome.revman_number, page.status_code)


def test_a_manager_starts_a_review_from_a_revman_file_on_the_new_review_page(db):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from studies.models import Review, Study
    from studies.services.reviews import managers_group_ensure

    creator = get_user_model().objects.create_user("rm5-creator", password="pw-rm5-creator")
    creator.groups.add(managers_group_ensure())
    client = Client()
    client.force_login(creator)
    page = client.post("/new-review/", {"source": "revman", "slug": "fleiss-upload",
                                        "revman_file": SimpleUploadedFile("Fleiss1993.rm5", FLEISS.read_bytes())})
    assert page.status_code == 302 and page["Location"] == "/reviews/fleiss-upload/revman/parity/"
    review = Review.objects.get(slug="fleiss-upload")
    assert review.memberships.get(user=creator).role == Role.MANAGER
    assert Study.objects.filter(review=review).count() == 12  # the file's studies
    assert "37</strong> numbers checked: <strong>37</strong> equal" in client.get(page["Location"]).content.decode()
    # Refused, naming the file, nothing created: not a RevMan file; the same address again.
    refused = client.post("/new-review/", {"source": "revman", "revman_file": SimpleUploadedFile("notes.rm5", b"hello")})
    assert refused.status_code == 400 and "notes.rm5: " in refused.content.decode()
    again = client.post("/new-review/", {"source": "revman", "slug": "fleiss-upload",
                                         "revman_file": SimpleUploadedFile("Fleiss1993.rm5", FLEISS.read_bytes())})
    assert again.status_code == 400 and "already exists" in again.content.decode()
    assert list(Review.objects.filter(revman_import__isnull=False).values_list("slug", flat=True)) == ["fleiss-upload"]
