"""The references a RevMan review brings are reports of studies that review already included: they are
kept out of the screening queues, and PRISMA counts them in its flow for updated reviews as the
"studies included in previous version of review" (Page et al. 2021, BMJ 372:n71, figure 1), not as
records identified by a search. A search imported afterwards is the update's, screened as usual."""
import io
from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from test_rm5_import import FLEISS, HAND_MADE

from studies import selectors
from studies.models import Record, Review, Role, Stage
from studies.services import membership_add
from studies.services.imports import import_counts, import_file

pytestmark = pytest.mark.django_db

LATER_SEARCH = (b"TY  - JOUR\nTI  - Aspirin after myocardial infarction: a new trial\nAU  - Smith, Jane\nPY  - 2021\n"
                b"DO  - 10.1000/new-aspirin-trial\nER  - \n")


@pytest.fixture
def imported(tmp_path) -> tuple[Review, object]:
    # Five studies, each with one reference (a DOI among its identifiers), by the command.
    path = tmp_path / "hand-made.rm5"
    path.write_bytes(HAND_MADE)
    call_command("rm5_import", str(path), "--review", "rm5-provenance", stdout=io.StringIO())
    review = Review.objects.get(slug="rm5-provenance")
    screener = get_user_model().objects.create_user("provenance-screener", password="a-long-test-password")
    membership_add(review=review, user=screener, role=Role.SCREENER)
    return review, screener


def test_the_imported_review_s_references_wait_in_no_screening_queue(imported):
    review, screener = imported
    assert Record.objects.filter(review=review, revman_import=review.revman_import).count() == 5
    for stage in (Stage.TITLE_ABSTRACT, Stage.FULL_TEXT):
        assert selectors.screening_left(review=review, stage=stage, screener=screener) == 0
        assert selectors.screening_queue_next(review=review, stage=stage, screener=screener) is None
        assert sum(selectors.stage_status_counts(review=review, stage=stage).values()) == 0
    assert import_counts(review=review) == {"duplicates removed": 0}


def test_prisma_shows_them_as_the_previous_version_s_studies(imported):
    review, _ = imported
    at = selectors.prisma_previous_version_at(review)
    assert at == review.revman_import.imported_at
    counts = selectors.prisma_counts(review, at)
    assert counts.identified == 0 and counts.awaiting_screening == 0 and counts.identified_by_source == ()
    assert (counts.previous.studies_included, counts.previous.reports_included) == (5, 5)
    assert (counts.studies_included_total, counts.reports_included_total) == (5, 5)
    assert all(left == right for left, right in counts.identities().values()), counts.identities()
    # Asked without a cut-off, the counts are the same: such a review always has a previous version.
    assert selectors.prisma_counts(review).as_json() == counts.as_json()
    client = Client()
    client.force_login(imported[1])
    html = client.get(f"/reviews/{review.slug}/prisma/").content.decode()
    assert "Studies included in previous version of review (n = 5)" in html


def test_a_later_search_is_the_update_and_is_screened(imported):
    review, screener = imported
    import_file(review=review, database="PubMed", date_searched=date(2024, 1, 15), query="aspirin AND infarction",
                file_name="update.ris", content=LATER_SEARCH)
    queue = selectors.screening_queue(review=review, stage=Stage.TITLE_ABSTRACT, screener=screener)
    assert [record.title for record in queue] == ["Aspirin after myocardial infarction: a new trial"]
    counts = selectors.prisma_counts(review, selectors.prisma_previous_version_at(review))
    assert counts.identified_by_source == (("PubMed", 1),) and counts.awaiting_screening == 1
    assert (counts.previous.studies_included, counts.previous.reports_included) == (5, 5)
    assert counts.studies_included == 0 and counts.studies_included_total == 5
    assert all(left == right for left, right in counts.identities().values()), counts.identities()
    assert import_counts(review=review) == {"PubMed": 1, "duplicates removed": 0}


def test_studies_a_revman_file_holds_without_references_are_counted_too():
    # Fleiss 1993's studies have empty references (nothing to make a record of): still 12 studies
    # of the previous version, with no reports.
    call_command("rm5_import", str(FLEISS), "--review", "fleiss-provenance", stdout=io.StringIO())
    review = Review.objects.get(slug="fleiss-provenance")
    counts = selectors.prisma_counts(review, selectors.prisma_previous_version_at(review))
    assert (counts.previous.studies_included, counts.previous.reports_included) == (12, 0)
    assert counts.studies_included_total == 12 and counts.identified == 0
