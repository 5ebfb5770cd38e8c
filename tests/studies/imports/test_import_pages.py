"""The manager's upload page and the duplicate queue: managers only, and they do what they say."""
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from studies.models import Record
FIXTURES = Path(__file__).parent / "fixtures"


def test_manager_uploads_and_sees_the_summary(client, small):
    client.force_login(small.manager)
    upload = SimpleUploadedFile("pubmed.nbib", (FIXTURES / "pubmed.nbib").read_bytes())
    response = client.post(f"/reviews/{small.review.slug}/imports/",
                           {"database": "PubMed", "searched_on": "2024-03-01", "file": upload})
    assert response.status_code == 200
    assert b"Imported</th><td>2" in response.content
    assert Record.objects.filter(review=small.review).count() == 2
    bad = SimpleUploadedFile("bad.ris", b"TY  - JOUR\nTI  - x\nDO  - nonsense\nER  - \n")
    response = client.post(f"/reviews/{small.review.slug}/imports/", {"database": "Embase", "file": bad})
    assert b"Nothing was imported" in response.content and b"doi" in response.content
    assert client.get(f"/reviews/{small.review.slug}/duplicates/").status_code == 200


def test_non_manager_is_denied(client, small):
    other = get_user_model().objects.create_user("screener-only", password="a-long-test-password")
    client.force_login(other)
    assert client.get(f"/reviews/{small.review.slug}/imports/").status_code == 403
    client.logout()
    assert client.get(f"/reviews/{small.review.slug}/imports/").status_code == 302
