"""The manager's upload page and the duplicate queue: managers only, and they do what they say."""
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from studies.pages.imports import word_diff
from studies.models import DuplicateCandidate, Record, Role
from studies.services.reviews import membership_add

FIXTURES = Path(__file__).parent / "fixtures"


def upload_and_confirm(client, path: str, data: dict):
    """Upload a file, follow to its preview, and confirm it: the page's two steps."""
    preview = client.post(path, data)
    assert preview.status_code == 302, preview.content.decode()[:500]
    return client.post(preview["Location"] + "confirm/")


def test_manager_uploads_and_sees_the_summary(client, small):
    client.force_login(small.manager)
    upload = SimpleUploadedFile("pubmed.nbib", (FIXTURES / "pubmed.nbib").read_bytes())
    response = client.post(f"/reviews/{small.review.slug}/imports/",
                           {"database": "PubMed", "searched_on": "2024-03-01", "file": upload})
    assert response.status_code == 302 and not Record.objects.filter(review=small.review).exists()
    preview = client.get(response["Location"])
    assert '<dd id="preview-records">2</dd>' in preview.content.decode()
    response = client.post(response["Location"] + "confirm/")
    assert response.status_code == 200
    assert b'Imported</th><td>2' in response.content.replace(b' scope="row"', b"")
    assert Record.objects.filter(review=small.review).count() == 2
    bad = SimpleUploadedFile("bad.ris", b"Dear colleague, the search results follow.\n")  # not an export
    response = client.post(f"/reviews/{small.review.slug}/imports/", {"database": "Embase", "file": bad})
    assert b"Nothing was imported" in response.content and b"not recognised" in response.content
    assert client.get(f"/reviews/{small.review.slug}/duplicates/").status_code == 200


def test_outsiders_learn_nothing_and_other_roles_are_refused(client, small):
    outsider = get_user_model().objects.create_user("outsider", password="a-long-test-password")
    screener = get_user_model().objects.create_user("screener-only", password="a-long-test-password")
    membership_add(review=small.review, user=screener, role=Role.SCREENER)
    paths = [f"/reviews/{small.review.slug}/imports/", f"/reviews/{small.review.slug}/duplicates/"]
    client.force_login(outsider)  # the review is unpublished: for an outsider it does not exist
    assert [client.get(path).status_code for path in paths] == [404, 404]
    client.force_login(screener)  # a team member in another role is told no
    assert [client.get(path).status_code for path in paths] == [403, 403]
    small.review.is_public = True
    small.review.save()
    client.force_login(outsider)  # a published review's existence is public; its imports are not
    assert [client.get(path).status_code for path in paths] == [403, 403]
    client.logout()
    assert client.get(paths[0]).status_code == 302


CSV = b"Heading,Released,Digital Object\nPeer support and stigma,2021,10.1000/xyz1\nA second paper,2019,\n"


def test_csv_columns_mapped_on_the_upload_page(client, small):
    client.force_login(small.manager)
    path = f"/reviews/{small.review.slug}/imports/"
    unmapped = client.post(path, {"database": "Sheet", "file": SimpleUploadedFile("sheet.csv", CSV)})
    assert b"Nothing was imported" in unmapped.content and b"CSV with a title column" in unmapped.content
    assert not Record.objects.filter(review=small.review).exists()
    mapped = upload_and_confirm(client, path, {
        "database": "Sheet", "file": SimpleUploadedFile("sheet.csv", CSV),
        "map_title": "Heading", "map_year": "released", "map_doi": "Digital Object"})
    assert b"Nothing was imported" not in mapped.content
    records = {r.title: (r.year, r.doi) for r in Record.objects.filter(review=small.review)}
    assert records == {"Peer support and stigma": (2021, "10.1000/xyz1"), "A second paper": (2019, "")}
    wrong = client.post(path, {"database": "Sheet", "file": SimpleUploadedFile("other.csv", CSV + b"x,2020,\n"),
                               "map_title": "Heading", "map_journal": "Periodical"})
    assert b"Nothing was imported" in wrong.content and b"Periodical" in wrong.content


def test_word_diff_marks_only_the_words_that_differ_and_escapes():
    left, right = word_diff("Peer support <b>for</b> stigma 2019", "Peer support for stigma 2020")
    assert left == "Peer support <mark>&lt;b&gt;for&lt;/b&gt;</mark> stigma <mark>2019</mark>"
    assert right == "Peer support <mark>for</mark> stigma <mark>2020</mark>"
    assert word_diff("same words", "same words") == ("same words", "same words")
    assert word_diff("", "only right") == ("", "<mark>only right</mark>")


def test_queue_shows_where_two_records_differ(client, small):
    client.force_login(small.manager)
    path = f"/reviews/{small.review.slug}/imports/"
    first = b"TY  - JOUR\nTI  - Peer support for stigma: a randomised trial\nPY  - 2020\nER  - \n"
    second = b"TY  - JOUR\nTI  - Peer support for stigma: a randomized trial\nPY  - 2020\nER  - \n"
    upload_and_confirm(client, path, {"database": "Embase", "file": SimpleUploadedFile("a.ris", first)})
    upload_and_confirm(client, path, {"database": "PsycInfo", "file": SimpleUploadedFile("b.ris", second)})
    # One spelling apart, no identifiers and no authors: close, but a person decides.
    assert DuplicateCandidate.objects.get(review=small.review).status == "pending"
    page = client.get(f"/reviews/{small.review.slug}/duplicates/").content.decode()
    assert "<mark>randomized</mark>" in page and "<mark>randomised</mark>" in page
    assert "2020</td>" in page and "<mark>2020" not in page
