"""What the import noted about a record (issue 19: a record without a title is kept and flagged for
the screener) is shown on the screening page."""
from django.test import Client
import pytest

from studies.models import Record, Stage
from tests.studies.screening.conftest import build_screening_review

pytestmark = pytest.mark.django_db


def test_a_record_without_a_title_is_flagged_on_the_screening_page():
    setup = build_screening_review(slug="import-warnings-shown", n_records=1)
    record = setup.records[0]
    warning = {"kind": "title_missing", "message": "No title in this record; it is kept without one.",
               "line": 12, "field": "title"}
    Record.objects.filter(pk=record.pk).update(title="", import_warnings=[warning])
    client = Client()
    client.force_login(setup.s1)
    html = client.get(f"/reviews/{setup.review.slug}/screening/{Stage.TITLE_ABSTRACT}/?record={record.pk}").content.decode()
    assert "No title in the export" in html and warning["message"] in html
    Record.objects.filter(pk=record.pk).update(title="A title", import_warnings=[])
    html = client.get(f"/reviews/{setup.review.slug}/screening/{Stage.TITLE_ABSTRACT}/?record={record.pk}").content.decode()
    assert "The import noted" not in html
