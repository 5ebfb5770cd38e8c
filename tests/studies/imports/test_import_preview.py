"""The preview before an import: it writes nothing, the confirm imports exactly what it said, a
cancel or an expired preview imports nothing, two confirms import once, and the page, the API
(``dry_run``) and ``manage.py import_records --preview`` give the same summary."""
from datetime import timedelta
from io import StringIO
import json
from pathlib import Path
import threading

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone
import pytest
from rest_framework.test import APIClient

from studies.imports.errors import RecordWarning
from studies.imports.records import ParsedRecord
from studies.models import (
    DuplicateCandidate, ImportBatch, PendingImport, Record, Role, SearchSource,
)
from studies.selectors import prisma_counts
from studies.services.import_preview import (
    PendingImportGone, import_preview_build, pending_import_confirm, pending_import_create,
)
from studies.services.imports import import_file
from studies.services.reviews import membership_add

FIXTURES = Path(__file__).parent / "fixtures"


def ris(*entries: dict) -> bytes:
    lines = []
    for entry in entries:
        lines.append("TY  - JOUR")
        for tag, value in entry.items():
            for item in value if isinstance(value, list) else [value]:
                lines.append(f"{tag}  - {item}")
        lines += ["ER  - ", ""]
    return "\n".join(lines).encode("latin-1")


TRIAL = {"TI": "Peer support to reduce self-stigma: a randomised trial", "AU": ["Rüsch, N.", "Doe, A."],
         "PY": "2014", "JO": "Br J Psychiatry"}
# Read against a review holding TRIAL (DOI 10.1000/trial): one record merged with the review's, two
# merged with each other, one pair for a person, one record new; Latin-1 bytes give a file warning (read as Windows-1252).
MIXED = ris(
    {**TRIAL, "DO": "10.1000/trial"},
    {"TI": "Stigma stress in peer groups", "PY": "2019", "DO": "10.1000/stress", "AU": "Kim, J."},
    {"TI": "Stigma stress in peer groups.", "PY": "2019", "DO": "10.1000/STRESS", "AU": "Kim, J."},
    {"TI": "Peer support to reduce self-stigma: a randomized trial", "PY": "2014", "AU": "Other, B."},
    {"TI": "Honest, open, proud: a new trial", "PY": "2021"},
)


def counts(review) -> dict:
    return {"records": Record.objects.filter(review=review).count(),
            "batches": ImportBatch.objects.filter(review=review).count(),
            "sources": SearchSource.objects.filter(review=review).count(),
            "pairs": DuplicateCandidate.objects.filter(review=review).count(),
            "prisma": prisma_counts(review).as_json()}


@pytest.fixture
def seeded(small):
    """The small review holding one record (TRIAL) from an earlier import."""
    import_file(review=small.review, database="Embase", date_searched=timezone.localdate(), query="",
                file_name="first.ris", content=ris({**TRIAL, "DO": "10.1000/trial"}))
    return small


def upload(client, small, content: bytes, name: str = "pubmed.ris", **fields):
    return client.post(f"/reviews/{small.review.slug}/imports/", {
        "database": "PubMed", "searched_on": "2024-03-01", "file": SimpleUploadedFile(name, content), **fields})


def test_preview_writes_nothing_and_shows_what_the_file_holds(client, seeded):
    client.force_login(seeded.manager)
    before = counts(seeded.review)
    response = upload(client, seeded, MIXED)
    assert response.status_code == 302
    assert counts(seeded.review) == before  # records, batches, sources, pairs and PRISMA alike
    pending = PendingImport.objects.get(review=seeded.review)
    assert bytes(pending.content) == MIXED and pending.uploaded_by == seeded.manager
    page = client.get(response["Location"]).content.decode()
    assert '<dd id="preview-records">5</dd>' in page
    assert "Peer support to reduce self-stigma: a randomised trial" in page  # the sample
    assert "it was read as Windows-1252" in page  # the file's warning
    preview = pending.preview
    assert preview["encoding"] == "windows-1252" and preview["format"] == "ris"
    assert [s["title"] for s in preview["sample"]][:2] == [TRIAL["TI"], "Stigma stress in peer groups"]
    assert preview["duplicates"] | {"examples": None} == {
        "merged": 2, "merged_within_file": 1, "merged_with_review": 1, "queued": 1, "queued_within_file": 0,
        "queued_with_review": 1, "examples": None}
    with_review = next(d for d in preview["duplicates"]["examples"] if d["automatic"] and d["other_id"])
    assert with_review["record"] == 1 and with_review["other_title"] == TRIAL["TI"]


def test_confirm_imports_exactly_what_the_preview_said(client, seeded):
    client.force_login(seeded.manager)
    preview_url = upload(client, seeded, MIXED)["Location"]
    said = PendingImport.objects.get().preview
    before = Record.objects.filter(review=seeded.review).count()
    response = client.post(preview_url + "confirm/")
    assert response.status_code == 200
    summary = response.context["summary"]
    assert (summary.imported, summary.duplicates, summary.queued) == (
        said["records"], said["duplicates"]["merged"], said["duplicates"]["queued"])
    assert Record.objects.filter(review=seeded.review).count() == before + said["records"]
    batch = ImportBatch.objects.get(pk=summary.batch_id)
    assert (batch.source.database, str(batch.source.date_searched), batch.imported_by) == (
        "PubMed", "2024-03-01", seeded.manager)
    assert DuplicateCandidate.objects.filter(import_batch=batch, status="pending").count() == said["duplicates"]["queued"]
    assert prisma_counts(seeded.review).duplicates_removed == said["duplicates"]["merged"]
    assert not PendingImport.objects.exists()
    # The preview is gone: a second confirm (a reload, another tab) says so and imports nothing.
    again = client.post(preview_url + "confirm/")
    assert again.status_code == 409 and "already imported or cancelled" in again.content.decode()
    assert Record.objects.filter(review=seeded.review).count() == before + said["records"]


def test_cancel_leaves_nothing(client, seeded):
    client.force_login(seeded.manager)
    before = counts(seeded.review)
    preview_url = upload(client, seeded, MIXED)["Location"]
    response = client.post(preview_url + "cancel/", follow=True)
    assert "Import cancelled; nothing was imported." in response.content.decode()
    assert not PendingImport.objects.exists() and counts(seeded.review) == before
    assert client.post(preview_url + "confirm/").status_code == 409
    assert counts(seeded.review) == before


def test_an_expired_preview_is_refused_clearly_and_discarded(client, seeded):
    client.force_login(seeded.manager)
    before = counts(seeded.review)
    preview_url = upload(client, seeded, MIXED)["Location"]
    PendingImport.objects.update(created_at=timezone.now() - timedelta(hours=25))
    page = client.get(preview_url).content.decode()
    assert "This preview expired" in page and 'id="confirm-form"' not in page
    response = client.post(preview_url + "confirm/")
    assert response.status_code == 409
    assert "This preview expired" in response.context["error"] and "upload the file again" in response.context["error"]
    assert counts(seeded.review) == before and not PendingImport.objects.exists()


def test_expired_previews_are_purged_as_new_ones_come(seeded):
    old = pending_import_create(review=seeded.review, user=seeded.manager, file_name="a.ris", content=MIXED,
                                database="PubMed", date_searched=timezone.localdate())
    PendingImport.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    fresh = pending_import_create(review=seeded.review, user=seeded.manager, file_name="b.ris", content=MIXED,
                                  database="PubMed", date_searched=timezone.localdate())
    assert list(PendingImport.objects.values_list("pk", flat=True)) == [fresh.pk]


def test_a_file_that_is_no_bibliographic_export_is_refused_at_the_preview(client, small):
    client.force_login(small.manager)
    for name, content, message in [
        ("notes.txt", b"Dear team,\nhere are the search results you asked for.\n", "format was not recognised"),
        ("figure.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "binary file"),
    ]:
        response = upload(client, small, content, name=name)
        assert response.status_code == 200, name
        assert "Nothing was imported" in response.content.decode() and message in response.context["error"], name
    assert not PendingImport.objects.exists() and not Record.objects.filter(review=small.review).exists()


def test_previews_are_for_managers_only(client, seeded):
    users = get_user_model().objects
    screener, outsider = users.create_user("screener-p"), users.create_user("outsider-p")
    membership_add(review=seeded.review, user=screener, role=Role.SCREENER)
    client.force_login(seeded.manager)
    preview_url = upload(client, seeded, MIXED)["Location"]
    pending = PendingImport.objects.get()
    for who, code in ((screener, 403), (outsider, 404)):
        client.force_login(who)
        assert client.get(preview_url).status_code == code
        assert client.post(preview_url + "confirm/").status_code == code
        assert client.post(preview_url + "cancel/").status_code == code
    with pytest.raises(PermissionDenied):
        pending_import_confirm(review=seeded.review, pending_id=pending.pk, user=screener)
    with pytest.raises(PermissionDenied):
        pending_import_create(review=seeded.review, user=screener, file_name="x.ris", content=MIXED,
                              database="PubMed", date_searched=timezone.localdate())
    assert PendingImport.objects.count() == 1 and Record.objects.filter(review=seeded.review).count() == 1


def test_api_and_command_give_the_pages_summary(client, seeded, tmp_path):
    client.force_login(seeded.manager)
    upload(client, seeded, MIXED)
    page = PendingImport.objects.get().preview
    assert page["warnings"]["file"] and page["duplicates"]["examples"]  # the comparison covers them

    api = APIClient()
    api.force_authenticate(seeded.manager)
    url = f"/api/reviews/{seeded.review.slug}/imports/"
    answer = api.post(url, {"file": SimpleUploadedFile("pubmed.ris", MIXED), "database": "PubMed",
                            "dry_run": "true"}, format="multipart")
    assert answer.status_code == 200 and answer.json() == page

    path = tmp_path / "pubmed.ris"
    path.write_bytes(MIXED)
    out = StringIO()
    call_command("import_records", str(path), review=seeded.review.slug, source="PubMed", preview=True, stdout=out)
    assert json.loads(out.getvalue()) == page
    assert Record.objects.filter(review=seeded.review).count() == 1  # none of the three wrote anything

    bad = tmp_path / "notes.txt"
    bad.write_bytes(b"Dear team,\nno export here.\n")
    with pytest.raises(CommandError, match="format was not recognised"):
        call_command("import_records", str(bad), review=seeded.review.slug, source="PubMed", preview=True,
                     stdout=StringIO())
    refused = api.post(url, {"file": SimpleUploadedFile("notes.txt", bad.read_bytes()), "database": "PubMed",
                             "dry_run": "true"}, format="multipart")
    assert refused.status_code == 400 and "format was not recognised" in refused.json()["file"][0]


def test_api_imports_without_dry_run(seeded):
    api = APIClient()
    api.force_authenticate(seeded.manager)
    answer = api.post(f"/api/reviews/{seeded.review.slug}/imports/", {
        "file": SimpleUploadedFile("pubmed.ris", MIXED), "database": "PubMed", "searched_on": "2024-03-01"},
        format="multipart")
    assert answer.status_code == 201
    body = answer.json()
    assert (body["imported"], body["duplicates"], body["queued"]) == (5, 2, 1)
    assert ImportBatch.objects.get(pk=body["batch"]).imported_by == seeded.manager


def parsed(n: int, warnings: tuple[RecordWarning, ...] = ()) -> ParsedRecord:
    return ParsedRecord(title=f"Trial number {n} of peer support", year=2000 + n, record=n, line=10 * n,
                        authors=(f"Author{n}, A.",), doi=f"10.1000/t{n}", warnings=warnings)


def test_warnings_are_grouped_by_kind_with_counts_lines_and_the_rest_counted():
    records = [parsed(n, (RecordWarning("doi_not_a_doi", "'x' is not a DOI; left out.", record=n, line=10 * n,
                                        field="doi"),) if n % 2 else
                      (RecordWarning("year_missing", "No year.", record=n, line=10 * n, field="year"),
                       RecordWarning("doi_not_a_doi", "'y' is not a DOI; left out.", record=n, line=10 * n + 1,
                                     field="doi")))
               for n in range(1, 16)]
    preview = import_preview_build(records=records, existing=[], file_format="ris", encoding="utf-8")
    assert preview.records == 15 and [s.record for s in preview.sample] == [1, 2, 3, 4, 5]
    assert [(g.kind, g.count, len(g.shown), g.more) for g in preview.warning_groups] == [
        ("doi_not_a_doi", 15, 5, 10), ("year_missing", 7, 5, 2)]
    first = preview.warning_groups[0].shown
    assert [(w.record, w.line) for w in first] == [(1, 10), (2, 21), (3, 30), (4, 41), (5, 50)]
    as_json = preview.as_dict()["warnings"]
    assert as_json["total"] == 22 and as_json["by_kind"][1]["shown"][0] == {
        "record": 2, "line": 20, "field": "year", "message": "No year."}


def test_the_preview_page_lists_the_first_warnings_of_each_kind_and_how_many_more(client, small):
    records = [parsed(n, (RecordWarning("title_in_capitals", f"Title {n} was in capitals.", record=n, line=7 * n,
                                        field="title"),)) for n in range(1, 9)]
    preview = import_preview_build(records=records, existing=[], file_format="ris", encoding="utf-8")
    pending = PendingImport.objects.create(
        review=small.review, uploaded_by=small.manager, file_name="w.ris", content=b"", sha256="0" * 64,
        file_format="ris", encoding="utf-8", database="PubMed", date_searched=timezone.localdate(),
        preview=preview.as_dict())
    client.force_login(small.manager)
    page = client.get(f"/reviews/{small.review.slug}/imports/previews/{pending.pk}/").content.decode()
    assert "<code>title_in_capitals</code>: 8 records" in page
    assert "Record 5, line 35, title: Title 5 was in capitals." in page
    assert "Title 6 was in capitals" not in page and "and 3 more" in page


@pytest.mark.django_db(transaction=True)
def test_two_confirms_at_once_import_once(small):
    pending = pending_import_create(review=small.review, user=small.manager, file_name="m.ris", content=MIXED,
                                    database="PubMed", date_searched=timezone.localdate())
    outcomes: list = []

    def confirm() -> None:
        try:
            outcomes.append(pending_import_confirm(review=small.review, pending_id=pending.pk, user=small.manager))
        except PendingImportGone as gone:
            outcomes.append(gone)
        finally:
            connection.close()

    # Hold the row while both confirms start, so both are waiting for it when it is let go.
    with transaction.atomic():
        PendingImport.objects.select_for_update().get(pk=pending.pk)
        threads = [threading.Thread(target=confirm) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=1)  # both are blocked on the lock
        assert all(thread.is_alive() for thread in threads)
    for thread in threads:
        thread.join(timeout=60)
    imported = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, PendingImportGone)]
    assert len(imported) == 1 and len(refused) == 1, outcomes
    assert imported[0].imported == 5 and not imported[0].already_imported
    assert ImportBatch.objects.filter(review=small.review).count() == 1
    assert Record.objects.filter(review=small.review).count() == 5 and not PendingImport.objects.exists()
