"""The upload page and command: a refused file leaves nothing behind (not even the search source
named for it), and the page costs the same for any number of imports."""
from io import StringIO

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils.html import escape
import pytest

from studies.models import ImportBatch, Record, SearchSource

# Not an export at all: the one kind of file an import refuses (a quirk in a record is a warning).
BROKEN_RIS = b"Dear colleague,\nthe search results are attached.\n"


def counts(review) -> tuple[int, int, int]:
    return (SearchSource.objects.filter(review=review).count(), ImportBatch.objects.filter(review=review).count(),
            Record.objects.filter(review=review).count())


def test_command_refusing_a_file_creates_no_search_source(small, tmp_path):
    bad = tmp_path / "broken.ris"
    bad.write_bytes(BROKEN_RIS)
    before = counts(small.review)
    with pytest.raises(CommandError):
        call_command("import_records", "--review", small.review.slug, "--source", "Brand-new database",
                     str(bad), stdout=StringIO())
    assert counts(small.review) == before


def test_upload_page_refusing_a_file_creates_no_search_source(client, small):
    client.force_login(get_user_model().objects.get(pk=small.manager.pk))
    before = counts(small.review)
    response = client.post(f"/reviews/{small.review.slug}/imports/", {
        "database": "Brand-new database", "searched_on": "2024-05-01", "file_format": "auto",
        "file": SimpleUploadedFile("broken.ris", BROKEN_RIS),
    })
    assert response.status_code == 200
    assert response.context["error"]  # the page says what is wrong with the file
    assert escape(response.context["error"]) in response.content.decode()
    assert counts(small.review) == before


def test_upload_page_costs_the_same_queries_for_one_import_or_many(client, small):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/reviews/{small.review.slug}/imports/").status_code == 200
        return len(queries)

    client.force_login(get_user_model().objects.get(pk=small.manager.pk))
    source = SearchSource.objects.create(review=small.review, database="PubMed", date_searched="2024-01-01")
    ImportBatch.objects.create(review=small.review, source=source, file_name="a.ris", file_format="ris", sha256="1" * 64)
    one = page_queries()
    for digit in "23456":
        ImportBatch.objects.create(review=small.review, source=source, file_name=f"{digit}.ris", file_format="ris",
                                   sha256=digit * 64)
    assert page_queries() == one
