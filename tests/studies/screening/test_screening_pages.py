"""The screening pages through HTTP: a record's journey from the screener's page to the tutor and
on to a study, the queue order, highlighting, the PRISMA JSON and figure."""
import xml.etree.ElementTree as ET

from django.test import Client
import pytest

from analysis.figures.prisma import prisma_layout, prisma_svg
from studies import selectors
from studies.models import Decision, Report, ScreeningDecision, Stage
from studies.pages.screening import highlight
from studies.services import screening as services
from tests.studies.screening.conftest import build_screening_review

SVG = "{http://www.w3.org/2000/svg}"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)  # (the sign-in itself, and its throttling, are tested in tests/test_security.py)
    return client


def test_a_record_goes_from_two_screeners_through_the_tutor_to_a_study(setup):
    slug, record = setup.review.slug, setup.records[2]
    s1, s2, tutor = client_for(setup.s1), client_for(setup.s2), client_for(setup.tutor)
    ta = f"/reviews/{slug}/screening/title_abstract/"
    page = s1.get(f"{ta}?record={record.pk}").content.decode()
    assert '<mark class="include">randomised</mark>' in page and '<mark class="exclude">qualitative</mark>' in page
    assert s1.post(ta, {"record": record.pk, "decision": "include"}).status_code == 302
    assert s2.post(ta, {"record": record.pk, "decision": "exclude", "note": "no control"}).status_code == 302
    conflicts = f"/reviews/{slug}/screening/title_abstract/conflicts/"
    assert tutor.post(conflicts, {"record": record.pk, "decision": "include"}).status_code == 400  # no rationale
    assert tutor.post(conflicts, {"record": record.pk, "decision": "include", "rationale": "RCT per methods"}
                      ).status_code == 302
    # Full text: not in the queue until someone uploads or decides; a PDF is checked by its bytes.
    ft = f"/reviews/{slug}/screening/full_text/"
    pdf = f"/reviews/{slug}/screening/full-text/{record.pk}/pdf"
    from django.core.files.uploadedfile import SimpleUploadedFile
    refused = s1.post(pdf, {"file": SimpleUploadedFile("x.pdf", b"GIF89a...", content_type="application/pdf")})
    assert refused.status_code == 400 and b"not a PDF" in refused.content
    assert s1.post(pdf, {"file": SimpleUploadedFile("trial.pdf", b"%PDF-1.4\n%%EOF\n")}).status_code == 302
    opened = s2.get(pdf)
    assert opened.status_code == 200 and opened["Content-Type"] == "application/pdf"
    assert opened.content.startswith(b"%PDF-")
    reason = setup.reasons[1]
    assert s1.post(ft, {"record": record.pk, "decision": "exclude"}).status_code == 400  # reason missing
    assert s1.post(ft, {"record": record.pk, "decision": "include"}).status_code == 302
    assert s2.post(ft, {"record": record.pk, "decision": "include"}).status_code == 302
    included = f"/reviews/{slug}/screening/included/"
    assert tutor.post(included, {"record": record.pk, "label": "Peer 2020", "year": "2020"}).status_code == 302
    assert Report.objects.get(record=record).study.label == "Peer 2020"
    counts = client_for(setup.manager).get(f"/api/reviews/{slug}/prisma/").json()
    assert counts["reports_included"] == 1 and counts["studies_included"] == 1
    assert counts["reports_excluded"]["total"] == 0 and reason.label not in str(counts)


def test_the_same_form_submitted_twice_is_one_decision(setup):
    s1 = client_for(setup.s1)
    url = f"/reviews/{setup.review.slug}/screening/title_abstract/"
    for _ in range(2):
        assert s1.post(url, {"record": setup.records[0].pk, "decision": "unsure"}).status_code == 302
    assert ScreeningDecision.objects.filter(record=setup.records[0]).count() == 1
    assert s1.post(url, {"record": setup.duplicate.pk, "decision": "include"}).status_code == 404
    assert s1.post(url, {"record": setup.records[0].pk, "decision": "maybe"}).status_code == 400


def test_screeners_start_far_apart_in_a_stable_order_and_next_skips(db):
    setup = build_screening_review(slug="queue-review", n_records=40)
    review, ta = setup.review, Stage.TITLE_ABSTRACT
    queue = list(selectors.screening_queue(review=review, stage=ta, screener=setup.s1).values_list("pk", flat=True))
    assert sorted(queue) == sorted(r.pk for r in setup.records)  # never the duplicate
    assert queue != sorted(queue)  # not the import order
    first = {s: selectors.screening_queue_next(review=review, stage=ta, screener=s).pk for s in (setup.s1, setup.s2)}
    assert first[setup.s1] != first[setup.s2]
    # Screener 2 starts about 0.618 of the way round screener 1's ring.
    assert abs(queue.index(first[setup.s2]) - round(0.618 * len(queue))) <= 8
    mine = queue[queue.index(first[setup.s1]):] + queue[:queue.index(first[setup.s1])]
    assert selectors.screening_queue_next(review=review, stage=ta, screener=setup.s1, after=mine[0]).pk == mine[1]
    assert selectors.screening_queue_next(review=review, stage=ta, screener=setup.s1, after=queue[-1]).pk == queue[0]
    # Deciding moves me on from the record I decided, and it leaves my queue.
    record = next(r for r in setup.records if r.pk == mine[0])
    services.decision_record(record=record, stage=ta, screener=setup.s1, decision=Decision.INCLUDE)
    assert selectors.screening_queue_next(review=review, stage=ta, screener=setup.s1).pk == mine[1]
    assert mine[0] not in selectors.screening_queue(review=review, stage=ta, screener=setup.s1
                                                    ).values_list("pk", flat=True)


def test_undo_through_the_page_brings_the_record_back(setup):
    s1 = client_for(setup.s1)
    url = f"/reviews/{setup.review.slug}/screening/title_abstract/"
    s1.post(url, {"record": setup.records[3].pk, "decision": "exclude"})
    response = s1.post(url + "undo/")
    assert response.status_code == 302 and response["Location"].endswith(f"?record={setup.records[3].pk}")
    assert not ScreeningDecision.objects.filter(screener=setup.s1).exists()


def test_highlighting_escapes_the_text_and_marks_terms_at_word_starts():
    marked = highlight("<b>Peer-led</b> compeer randomised", ["peer", "randomised"], ["<b>"])
    assert "<b>" not in marked and "&lt;" in marked
    assert '<mark class="include">Peer</mark>-led' in marked and "compeer" in marked
    assert marked.count("<mark") == 2


def test_agreement_page_shows_kappa_for_the_pair(setup):
    for record, (a, b) in zip(setup.records, [("include", "include"), ("exclude", "exclude"), ("exclude", "exclude"),
                                              ("include", "exclude"), ("exclude", "exclude")]):
        services.decision_record(record=record, stage=Stage.TITLE_ABSTRACT, screener=setup.s1, decision=a)
        services.decision_record(record=record, stage=Stage.TITLE_ABSTRACT, screener=setup.s2, decision=b)
    page = client_for(setup.manager).get(f"/reviews/{setup.review.slug}/screening/agreement/").content.decode()
    # 4 of 5 agree; table [[3, 0], [1, 1]]: p_e = .6×.8 + .4×.2 = .56, κ = (.8 − .56)/.44 = 0.545.
    assert "80.0%" in page and "0.55 [" in page
    assert "Records awaiting a first decision: <strong>1</strong>" in page


def test_prisma_counts_of_the_demo_put_every_record_in_exactly_one_box(demo_review):
    counts = selectors.prisma_counts(demo_review)
    assert sum(counts.boxes().values()) == counts.identified == demo_review.records.count()
    assert counts.identified == sum(n for _, n in counts.identified_by_source)
    assert counts.screened + counts.awaiting_screening == counts.identified - counts.duplicates_removed
    assert counts.sought == counts.not_retrieved + counts.assessed + counts.awaiting_classification
    assert counts.assessed == counts.excluded_fulltext + counts.reports_included
    # The first search as published: 54 full texts assessed, 46 excluded, 8 reports of 7 studies; the
    # living update's new records wait for screening.
    assert (counts.sought, counts.not_retrieved, counts.assessed) == (56, 2, 54)
    assert (counts.excluded_fulltext, counts.reports_included, counts.studies_included) == (46, 8, 7)
    assert counts.awaiting_screening == demo_review.records.filter(duplicate_of__isnull=True, decisions=None).count() > 0
    assert dict(counts.excluded_by_reason)["Not a randomised controlled trial"] == 17
    # Each record's box, one by one, agrees with the aggregate (so none is counted twice).
    ta = {r.pk: r.status for r in selectors.stage_status_queryset(review=demo_review, stage=Stage.TITLE_ABSTRACT)}
    assert sum(1 for s in ta.values() if s in selectors.FINAL) == counts.screened
    assert len(ta) == counts.screened + counts.awaiting_screening
    assert sum(1 for s in ta.values() if s in selectors.EXCLUDED) == counts.excluded_screening


def test_prisma_figure_shows_the_counts_and_is_public_for_public_reviews(client, demo_review):
    counts = client.get(f"/api/reviews/{demo_review.slug}/prisma/").json()
    response = client.get(f"/reviews/{demo_review.slug}/prisma.svg?download=1")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    root = ET.fromstring(response.content)
    assert root.get("role") == "img" and root.find(f"{SVG}title").text.startswith("PRISMA 2020")
    shown = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert f"Records identified (n = {counts['identified']['total']:,})" in shown
    assert f"Reports excluded (n = {counts['reports_excluded']['total']:,}):" in shown
    # The demo has a living update after its first studies: the diagram is the flow for updated reviews.
    assert f"New studies included in review (n = {counts['studies_included']})" in shown
    assert f"Total studies included in review (n = {counts['update']['studies_included_total']})" in shown
    for source in counts["identified"]["by_source"]:
        assert f"{source['source']} (n = {source['records']:,})" in shown
    page = client.get(f"/reviews/{demo_review.slug}/").content.decode()
    assert f"/reviews/{demo_review.slug}/prisma.svg" in page


def test_prisma_layout_boxes_do_not_overlap():
    counts = {"identified": {"total": 10, "by_source": [{"source": "A", "records": 6}, {"source": "B", "records": 4}]},
              "duplicates_removed": 2, "screened": 8, "awaiting_screening": 1, "excluded_at_title_abstract": 4,
              "reports_sought": 3, "reports_not_retrieved": 1, "reports_assessed": 2, "reports_awaiting_classification": 0,
              "reports_excluded": {"total": 1, "by_reason": [{"reason": "Not an RCT", "reports": 1}]},
              "reports_included": 1, "studies_included": 1, "reports_not_yet_linked_to_a_study": 0}
    layout = prisma_layout(counts)
    for a in layout.boxes:
        for b in layout.boxes:
            if a is not b:
                assert (a.x + a.width <= b.x or b.x + b.width <= a.x or a.y + a.height <= b.y or b.y + b.height <= a.y)
    root = ET.fromstring(prisma_svg(layout))
    assert {g.get("data-box") for g in root.iter(f"{SVG}g") if g.get("class") == "box"} == {
        "identified", "removed", "awaiting_screening", "screened", "excluded_screening", "sought", "not_retrieved",
        "awaiting_classification", "assessed", "excluded_fulltext", "included"}
    assert "10 records identified" in root.find(f"{SVG}desc").text


@pytest.mark.parametrize("stage", ["title_abstract", "full_text"])
def test_unknown_records_and_stages_are_404(setup, stage):
    s1 = client_for(setup.s1)
    assert s1.get(f"/reviews/{setup.review.slug}/screening/nonsense/").status_code == 404
    assert s1.get(f"/reviews/{setup.review.slug}/screening/{stage}/?record=999999999").status_code == 404
    assert s1.get(f"/reviews/{setup.review.slug}/screening/{stage}/?record=abc").status_code == 404
    assert s1.post(f"/reviews/{setup.review.slug}/screening/{stage}/", {"record": "1; drop", "decision": "include"}
                   ).status_code == 404
    assert s1.post(f"/reviews/{setup.review.slug}/screening/{stage}/",
                   {"record": setup.records[0].pk, "decision": "exclude", "exclusion_reason": "x"}).status_code == 404


def test_a_tutor_who_also_screens_is_not_offered_conflicts_on_records_they_screened(setup):
    from studies.models import Role
    from studies.services import membership_add

    membership_add(review=setup.review, user=setup.s1, role=Role.TUTOR)  # a small team: s1 screens and tutors
    slug, record = setup.review.slug, setup.records[3]
    ta = f"/reviews/{slug}/screening/title_abstract/"
    assert client_for(setup.s1).post(ta, {"record": record.pk, "decision": "include"}).status_code == 302
    assert client_for(setup.s2).post(ta, {"record": record.pk, "decision": "exclude"}).status_code == 302
    conflicts = f"{ta}conflicts/"
    own = client_for(setup.s1).get(conflicts)
    # Not offered, and not counted: whether their own pair disagrees is not theirs to learn before it is settled.
    assert own.context["conflicts"] == [] and record.title not in own.content.decode()
    assert selectors.conflicts_waiting(review=setup.review, stage=Stage.TITLE_ABSTRACT, tutor=setup.s1) == 0
    other = client_for(setup.tutor).get(conflicts)
    assert [c.record.pk for c in other.context["conflicts"]] == [record.pk]


def test_a_full_text_conflict_gives_the_tutor_the_pdf_or_a_place_to_upload_it(setup):
    from django.core.files.uploadedfile import SimpleUploadedFile

    slug, record = setup.review.slug, setup.records[4]
    for screener in (setup.s1, setup.s2):
        services.decision_record(record=record, stage=Stage.TITLE_ABSTRACT, screener=screener, decision="include")
    services.decision_record(record=record, stage=Stage.FULL_TEXT, screener=setup.s1, decision="include")
    services.decision_record(record=record, stage=Stage.FULL_TEXT, screener=setup.s2, decision="exclude",
                             exclusion_reason=setup.reasons[0])
    # Both screeners decided: the record is no longer theirs to retrieve.
    assert selectors.fulltexts_to_retrieve(review=setup.review, screener=setup.s1) == 0
    assert selectors.fulltexts_to_retrieve(review=setup.review) == 1
    tutor = client_for(setup.tutor)
    conflicts = f"/reviews/{slug}/screening/full_text/conflicts/"
    page = tutor.get(conflicts).content.decode()
    pdf = f"/reviews/{slug}/screening/full-text/{record.pk}/pdf"
    assert f'action="{pdf}"' in page and "No full text yet: upload its PDF" in page
    uploaded = tutor.post(pdf, {"from": "conflicts", "file": SimpleUploadedFile("t.pdf", b"%PDF-1.4\n%%EOF\n")})
    assert uploaded.status_code == 302 and uploaded["Location"] == f"{conflicts}#record-{record.pk}"
    page = tutor.get(conflicts).content.decode()
    assert f'<a href="{pdf}" target="_blank" rel="noopener">Full text (PDF)</a>' in page
    assert tutor.get(pdf).content.startswith(b"%PDF-")


def test_a_third_screener_is_not_asked_to_retrieve_what_their_queue_does_not_offer(setup):
    record = setup.records[5]
    for stage in (Stage.TITLE_ABSTRACT, Stage.FULL_TEXT):
        for screener in (setup.s1, setup.s2):
            services.decision_record(record=record, stage=stage, screener=screener, decision="include")
    assert selectors.fulltexts_to_retrieve(review=setup.review, screener=setup.s3) == 0
