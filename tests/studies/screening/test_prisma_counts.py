"""PRISMA 2020 counts as the statement defines its boxes (Page MJ et al. The PRISMA 2020 statement:
an updated guideline for reporting systematic reviews. BMJ 2021;372:n71, figure 1 for new and for
updated reviews): every stage adds up, on the demo review and on a review built record by record."""
import xml.etree.ElementTree as ET

from django.test import Client
from django.utils import timezone
import pytest

from analysis.figures.prisma import prisma_layout, prisma_svg
from studies import selectors
from studies.models import Decision, Record, Report, Stage
from studies.services import entity_save
from studies.services import screening as services
from tests.studies.screening.conftest import build_screening_review

I, E = Decision.INCLUDE, Decision.EXCLUDE
TA, FT = Stage.TITLE_ABSTRACT, Stage.FULL_TEXT
SVG = "{http://www.w3.org/2000/svg}"


def assert_adds_up(counts: selectors.PrismaCounts) -> None:
    for identity, (left, right) in counts.identities().items():
        assert left == right, identity
    assert sum(counts.boxes().values()) == counts.identified


def decide(setup, record, stage, first, second=None, reason=None):
    services.decision_record(record=record, stage=stage, screener=setup.s1, decision=first,
                             exclusion_reason=reason if first == E and stage == FT else None)
    if second is not None:
        services.decision_record(record=record, stage=stage, screener=setup.s2, decision=second,
                                 exclusion_reason=reason if second == E and stage == FT else None)


@pytest.fixture
def built(db):
    """Seven records and a duplicate, each in a different box of the flow."""
    setup = build_screening_review(slug="prisma-built", n_records=7)
    r = setup.records
    for record in r[:4]:
        decide(setup, record, TA, I, I)
    decide(setup, r[0], FT, I, I)                                   # included
    services.report_link(record=r[0], user=setup.tutor, new_study_label="Early 2020")
    services.fulltext_mark_not_retrieved(record=r[1], user=setup.s1)  # not retrieved
    decide(setup, r[2], FT, I)                                      # one full-text vote: awaiting classification
    decide(setup, r[3], FT, E, E, reason=setup.reasons[1])          # excluded: not peer-led
    decide(setup, r[4], TA, E, E)                                   # excluded at title/abstract
    decide(setup, r[5], TA, I)                                      # one vote: awaiting screening
    decide(setup, r[6], TA, I, E)                                   # a conflict: awaiting screening
    return setup


def test_each_box_holds_what_the_statement_puts_there(built):
    counts = selectors.prisma_counts(built.review)
    assert_adds_up(counts)
    assert (counts.identified, counts.duplicates_removed) == (8, 1)
    # Records screened are the settled ones only; unsettled records (one vote, a conflict) wait in their own box.
    assert (counts.screened, counts.awaiting_screening, counts.excluded_screening) == (5, 2, 1)
    assert (counts.sought, counts.not_retrieved, counts.awaiting_classification, counts.assessed) == (4, 1, 1, 2)
    assert counts.excluded_by_reason == (("Not peer-led", 1),) and counts.excluded_fulltext == 1
    assert (counts.reports_included, counts.studies_included, counts.reports_unlinked) == (1, 1, 0)
    assert (counts.studies_included_total, counts.reports_included_total) == (1, 1)  # no previous version
    assert counts.previous is None and counts.as_json()["update"] is None


def test_a_tutor_settling_a_conflict_moves_the_record_from_awaiting_to_screened(built):
    before = selectors.prisma_counts(built.review)
    services.resolution_record(record=built.records[6], stage=TA, tutor=built.tutor, decision=E, rationale="No control")
    after = selectors.prisma_counts(built.review)
    assert_adds_up(after)
    assert (after.screened, after.awaiting_screening, after.excluded_screening) == (
        before.screened + 1, before.awaiting_screening - 1, before.excluded_screening + 1)


def test_the_update_flow_counts_new_records_beside_the_previous_version(built):
    review, old = built.review, built.records
    assert selectors.prisma_previous_version_at(review) is None  # nothing imported after the first study
    cut_off = timezone.now()
    new = [entity_save(instance=Record(review=review, title=f"An update trial {i}", year=2022)) for i in range(3)]
    entity_save(instance=Record(review=review, title=old[0].title, year=2020, duplicate_of=old[0]))
    for record in new[:2]:
        decide(built, record, TA, I, I)
        decide(built, record, FT, I, I)
    services.report_link(record=new[0], user=built.tutor, new_study_label="Update 2022")
    first_study = Report.objects.get(record=old[0]).study
    services.report_link(record=new[1], user=built.tutor, study=first_study)  # a new report of a previous study

    counts = selectors.prisma_counts(review, previous_version_at=cut_off)
    assert_adds_up(counts)
    assert (counts.identified, counts.duplicates_removed, counts.awaiting_screening, counts.screened) == (4, 1, 1, 2)
    assert (counts.sought, counts.assessed, counts.reports_included) == (2, 2, 2)
    assert (counts.studies_included, counts.reports_of_previous_studies) == (1, 1)
    previous = counts.previous
    assert (previous.studies_included, previous.reports_included) == (1, 1)
    # The previous version's records still open are reported, not lost: two await screening, one classification.
    assert (previous.records_awaiting_screening, previous.reports_awaiting_classification) == (2, 1)
    assert (counts.studies_included_total, counts.reports_included_total) == (2, 3)
    whole = selectors.prisma_counts(review)
    assert whole.reports_included == counts.reports_included_total
    assert whole.studies_included == counts.studies_included_total
    # Until releases exist, the reader pages cut at the first included study: the old records are before it.
    at = selectors.prisma_previous_version_at(review)
    assert at is not None and old[-1].created_at < at < new[0].created_at

    layout = prisma_layout(counts.as_json())
    keys = {box.key for box in layout.boxes}
    assert {"previous", "total", "awaiting_screening", "awaiting_classification"} <= keys
    shown = " ".join(" ".join(line for box in layout.boxes for line in box.lines).split())  # unwrapped
    assert "Studies included in previous version of review (n = 1)" in shown
    assert "Total studies included in review (n = 2)" in shown and "Reports of total included studies (n = 3)" in shown
    assert "New studies included in review (n = 1)" in shown
    for a in layout.boxes:
        for b in layout.boxes:
            if a is not b:
                assert a.x + a.width <= b.x or b.x + b.width <= a.x or a.y + a.height <= b.y or b.y + b.height <= a.y
    ET.fromstring(prisma_svg(layout))  # well-formed


def test_the_demo_review_adds_up_and_shows_its_living_update(demo_review):
    counts = selectors.prisma_counts(demo_review)
    assert_adds_up(counts)
    assert counts.identified == demo_review.records.count()
    # The first search as published (Sun et al. 2022): 1,638 records screened, 56 full texts sought,
    # 2 not retrieved, 54 assessed, 46 excluded, 8 reports of 7 studies. The living update's 34 new
    # records (40 found, 6 duplicates) are unscreened: they wait, they are not "screened".
    assert (counts.screened, counts.awaiting_screening) == (1638, 34)
    assert (counts.sought, counts.not_retrieved, counts.assessed) == (56, 2, 54)
    assert (counts.excluded_fulltext, counts.reports_included, counts.studies_included) == (46, 8, 7)

    at = selectors.prisma_previous_version_at(demo_review)
    assert at is not None
    update = selectors.prisma_counts(demo_review, previous_version_at=at)
    assert_adds_up(update)
    assert update.identified_by_source == (("PubMed", 40),)
    assert (update.identified, update.duplicates_removed, update.awaiting_screening, update.screened) == (40, 6, 34, 0)
    assert (update.previous.studies_included, update.previous.reports_included) == (7, 8)
    assert (update.previous.records_awaiting_screening, update.previous.reports_awaiting_classification) == (0, 0)
    assert (update.studies_included, update.studies_included_total, update.reports_included_total) == (0, 7, 8)


def test_the_reader_sees_the_update_flow_as_figure_text_and_json(client: Client, demo_review):
    slug = demo_review.slug
    data = client.get(f"/api/reviews/{slug}/prisma/").json()
    assert data["screened"] == 0 and data["identified"]["total"] == 40
    assert data["update"]["previous_studies_included"] == 7 and data["update"]["studies_included_total"] == 7
    root = ET.fromstring(client.get(f"/reviews/{slug}/prisma.svg").content)
    boxes = {g.get("data-box") for g in root.iter(f"{SVG}g") if g.get("class") == "box"}
    assert {"previous", "total", "awaiting_screening"} <= boxes
    page = client.get(f"/reviews/{slug}/prisma/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Studies included in previous version of review (n = 7)" in text
    assert "Records awaiting screening (n = 34)" in text
    assert "Total studies included in review (n = 7)" in text
