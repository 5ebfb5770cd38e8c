"""The status of a record at each stage, for every combination of decisions and resolutions, read
through the one selector, and the rules of the decision services."""
from itertools import product

from django.core.exceptions import PermissionDenied, ValidationError
import pytest

from studies import selectors
from studies.models import (
    Decision, FullTextStatus, Report, ScreeningDecision, ScreeningResolution, ScreeningStatus as S, Stage, Study,
)
from studies.services import screening as services

I, E, U = Decision.INCLUDE, Decision.EXCLUDE, Decision.UNSURE
TA, FT = Stage.TITLE_ABSTRACT, Stage.FULL_TEXT


def status(record, stage=TA):
    return selectors.record_stage_status(record=record, stage=stage)


def expected_title_abstract(first, second):
    if first is None and second is None:
        return S.AWAITING_FIRST
    if first is None or second is None:
        return S.AWAITING_SECOND
    advances = [d in (I, U) for d in (first, second)]
    if all(advances):
        return S.AGREED_INCLUDE
    if not any(advances):
        return S.AGREED_EXCLUDE
    return S.CONFLICT


@pytest.mark.parametrize("first,second", list(product([None, I, E, U], repeat=2)))
def test_title_abstract_status_of_every_pair_of_decisions(setup, first, second):
    record = setup.records[0]
    for screener, decision in ((setup.s1, first), (setup.s2, second)):
        if decision is not None:
            services.decision_record(record=record, stage=TA, screener=screener, decision=decision)
    assert status(record) == expected_title_abstract(first, second)
    counts = selectors.stage_status_counts(review=setup.review, stage=TA)
    assert counts[expected_title_abstract(first, second)] >= 1
    assert sum(counts.values()) == len(setup.records)  # the duplicate never reaches screening


def test_counts_and_the_decided_only_statuses_agree_with_each_record_s_own(db):
    """Every pair of title/abstract decisions and both resolutions in one review, some records left
    unscreened: the counts (statuses worked out only for decided records, the rest awaiting first)
    and the decided-only queryset agree with the status of each record read alone."""
    from collections import Counter

    from tests.studies.screening.conftest import build_screening_review

    pairs = list(product([None, I, E, U], repeat=2))
    setup = build_screening_review(n_records=len(pairs) + 4)
    for record, (first, second) in zip(setup.records, pairs):
        for screener, decision in ((setup.s1, first), (setup.s2, second)):
            if decision is not None:
                services.decision_record(record=record, stage=TA, screener=screener, decision=decision)
    conflicts = [r for r, (a, b) in zip(setup.records, pairs) if expected_title_abstract(a, b) == S.CONFLICT]
    for record, says in zip(conflicts, (I, E)):
        services.resolution_record(record=record, stage=TA, tutor=setup.tutor, decision=says, rationale="Read the full abstract.")
    each = {record.pk: status(record) for record in setup.records}
    assert Counter(each.values())[S.AWAITING_FIRST] == 5 and set(each.values()) == set(S)  # every status
    assert selectors.stage_status_counts(review=setup.review, stage=TA) == {
        s.value: Counter(each.values())[s] for s in S}
    decided = dict(selectors.stage_status_queryset(review=setup.review, stage=TA, decided_only=True)
                   .values_list("pk", "status"))
    assert decided == {pk: value for pk, value in each.items() if value != S.AWAITING_FIRST}


@pytest.mark.parametrize("tutor_says", [I, E])
def test_a_resolution_decides_a_conflict_and_freezes_the_decisions(setup, tutor_says):
    record = setup.records[0]
    services.decision_record(record=record, stage=TA, screener=setup.s1, decision=I)
    services.decision_record(record=record, stage=TA, screener=setup.s2, decision=E)
    assert status(record) == S.CONFLICT
    services.resolution_record(record=record, stage=TA, tutor=setup.tutor, decision=tutor_says, rationale="Criteria.")
    assert status(record) == (S.RESOLVED_INCLUDE if tutor_says == I else S.RESOLVED_EXCLUDE)
    with pytest.raises(ValidationError, match="resolved"):
        services.decision_record(record=record, stage=TA, screener=setup.s2, decision=I)
    with pytest.raises(ValidationError, match="resolved"):
        services.resolution_record(record=record, stage=TA, tutor=setup.tutor, decision=I, rationale="Again.")
    assert ScreeningResolution.objects.filter(record=record).count() == 1
    # Only records that passed reach full text.
    assert (status(record, FT) is None) == (tutor_says == E)


def to_full_text(setup, record):
    for screener in (setup.s1, setup.s2):
        services.decision_record(record=record, stage=TA, screener=screener, decision=I)


@pytest.mark.parametrize("reason_conflict", [True, False])
@pytest.mark.parametrize("first,second,same_reason", [
    (I, I, True), (E, E, True), (E, E, False), (I, E, True), (E, I, True),
])
def test_full_text_status_with_reasons(setup, reason_conflict, first, second, same_reason):
    setup.review.fulltext_reason_conflict = reason_conflict
    setup.review.save()
    record = setup.records[1]
    assert status(record, FT) is None
    to_full_text(setup, record)
    assert status(record, FT) == S.AWAITING_FIRST
    reasons = {setup.s1: setup.reasons[0], setup.s2: setup.reasons[0] if same_reason else setup.reasons[1]}
    for screener, decision in ((setup.s1, first), (setup.s2, second)):
        services.decision_record(record=record, stage=FT, screener=screener, decision=decision,
                                 exclusion_reason=reasons[screener] if decision == E else None)
    if first == second == I:
        expected = S.AGREED_INCLUDE
    elif first == second == E:
        expected = S.CONFLICT if (reason_conflict and not same_reason) else S.AGREED_EXCLUDE
    else:
        expected = S.CONFLICT
    assert status(record, FT) == expected


def test_a_screener_changes_their_own_decision_and_it_stays_one_row(setup):
    record = setup.records[0]
    services.decision_record(record=record, stage=TA, screener=setup.s1, decision=I, note="first thought")
    services.decision_record(record=record, stage=TA, screener=setup.s1, decision=E, note="on reflection")
    rows = ScreeningDecision.objects.filter(record=record, screener=setup.s1)
    assert rows.count() == 1 and rows.get().decision == E and rows.get().note == "on reflection"


def test_who_may_decide_and_what_is_refused(setup):
    record = setup.records[0]
    for outsider in (setup.tutor, setup.manager, setup.extractor, setup.outsider):
        with pytest.raises(PermissionDenied, match="screeners"):
            services.decision_record(record=record, stage=TA, screener=outsider, decision=I)
    with pytest.raises(ValidationError, match="duplicate"):
        services.decision_record(record=setup.duplicate, stage=TA, screener=setup.s1, decision=I)
    with pytest.raises(ValidationError, match="decide"):
        services.decision_record(record=record, stage=TA, screener=setup.s1, decision="maybe")
    with pytest.raises(ValidationError, match="no exclusion reason"):
        services.decision_record(record=record, stage=TA, screener=setup.s1, decision=E,
                                 exclusion_reason=setup.reasons[0])
    with pytest.raises(ValidationError, match="not passed title/abstract"):
        services.decision_record(record=record, stage=FT, screener=setup.s1, decision=I)
    services.decision_record(record=record, stage=TA, screener=setup.s1, decision=I)
    services.decision_record(record=record, stage=TA, screener=setup.s2, decision=U)
    with pytest.raises(ValidationError, match="two decisions"):
        services.decision_record(record=record, stage=TA, screener=setup.s3, decision=E)
    # Full text: include or exclude only, an exclusion needs a reason from this review's list.
    with pytest.raises(ValidationError, match="decide"):
        services.decision_record(record=record, stage=FT, screener=setup.s1, decision=U)
    with pytest.raises(ValidationError, match="needs a reason"):
        services.decision_record(record=record, stage=FT, screener=setup.s1, decision=E)
    assert not ScreeningDecision.objects.filter(record=record, stage=FT).exists()
    services.decision_record(record=record, stage=FT, screener=setup.s1, decision=E, exclusion_reason=setup.reasons[2])
    # Once at full text, the title/abstract verdict is settled.
    with pytest.raises(ValidationError, match="already at full text"):
        services.decision_record(record=record, stage=TA, screener=setup.s2, decision=E)
    # Resolutions: tutors only, only conflicts, never by a tutor who screened it.
    other = setup.records[2]
    services.decision_record(record=other, stage=TA, screener=setup.s1, decision=I)
    with pytest.raises(ValidationError, match="Only conflicts"):
        services.resolution_record(record=other, stage=TA, tutor=setup.tutor, decision=I, rationale="Early.")
    services.decision_record(record=other, stage=TA, screener=setup.s2, decision=E)
    with pytest.raises(PermissionDenied, match="tutors"):
        services.resolution_record(record=other, stage=TA, tutor=setup.s3, decision=I, rationale="Not mine.")
    with pytest.raises(ValidationError, match="reason for the resolution"):
        services.resolution_record(record=other, stage=TA, tutor=setup.tutor, decision=I, rationale="  ")
    assert not ScreeningResolution.objects.filter(record=other).exists()


def test_undo_withdraws_my_last_decision_only(setup):
    a, b = setup.records[:2]
    services.decision_record(record=a, stage=TA, screener=setup.s1, decision=I)
    services.decision_record(record=b, stage=TA, screener=setup.s1, decision=E, note="no control group")
    services.decision_record(record=a, stage=TA, screener=setup.s2, decision=E)
    withdrawn = services.decision_undo_last(review=setup.review, stage=TA, screener=setup.s1)
    # The withdrawn decision comes back as it was, so the page can offer its note again.
    assert (withdrawn.record, withdrawn.decision, withdrawn.note) == (b, E, "no control group")
    assert list(ScreeningDecision.objects.filter(screener=setup.s1).values_list("record", flat=True)) == [a.pk]
    assert ScreeningDecision.objects.filter(record=a, screener=setup.s2).exists()
    assert status(b) == S.AWAITING_FIRST


def test_once_both_have_decided_neither_vote_changes(setup):
    """The pair stands once complete (agreement, or a conflict for the tutor): no change, no undo, no
    withdrawal, whoever decided first. The same decision again is a harmless double submit."""
    a = setup.records[0]
    services.decision_record(record=a, stage=TA, screener=setup.s1, decision=I)
    mine = services.decision_record(record=a, stage=TA, screener=setup.s2, decision=E, note="no peers")
    for screener, decision in ((setup.s1, E), (setup.s2, I)):
        with pytest.raises(ValidationError, match="Both screeners have decided"):
            services.decision_record(record=a, stage=TA, screener=screener, decision=decision)
        with pytest.raises(ValidationError, match="Both screeners have decided"):
            services.decision_undo_last(review=setup.review, stage=TA, screener=screener)
    with pytest.raises(ValidationError, match="Both screeners have decided"):
        services.decision_withdraw(decision=mine, screener=setup.s2)
    assert services.decision_record(record=a, stage=TA, screener=setup.s2, decision=E, note="no peers").pk == mine.pk
    assert status(a) == S.CONFLICT


def test_full_texts_are_pdfs_within_the_limit_or_marked_not_retrieved(setup, settings):
    record = setup.records[3]
    with pytest.raises(ValidationError, match="not passed"):
        services.fulltext_upload(record=record, user=setup.s1, file_name="x.pdf", content=b"%PDF-1.7\n")
    to_full_text(setup, record)
    settings.SCREENING_PDF_MAX_BYTES = 100
    with pytest.raises(ValidationError, match="not a PDF"):
        services.fulltext_upload(record=record, user=setup.s1, file_name="x.pdf", content=b"<html>not a pdf</html>")
    with pytest.raises(ValidationError, match="the limit is"):
        services.fulltext_upload(record=record, user=setup.s1, file_name="x.pdf", content=b"%PDF-" + b"0" * 100)
    with pytest.raises(PermissionDenied):
        services.fulltext_upload(record=record, user=setup.outsider, file_name="x.pdf", content=b"%PDF-1.7\n")
    record.refresh_from_db()
    assert record.fulltext_status == FullTextStatus.NOT_SOUGHT
    services.fulltext_mark_not_retrieved(record=record, user=setup.s2)
    assert status(record, FT) == S.AWAITING_FIRST
    assert selectors.prisma_counts(setup.review).not_retrieved == 1
    with pytest.raises(ValidationError, match="not retrieved"):
        services.decision_record(record=record, stage=FT, screener=setup.s1, decision=I)
    document = services.fulltext_upload(record=record, user=setup.s1, file_name="trial.pdf", content=b"%PDF-1.7\n%%EOF")
    record.refresh_from_db()
    assert record.fulltext_status == FullTextStatus.RETRIEVED and document.size == 14
    services.decision_record(record=record, stage=FT, screener=setup.s1, decision=I)
    with pytest.raises(ValidationError, match="already been assessed"):
        services.fulltext_mark_not_retrieved(record=record, user=setup.s2)


def test_included_records_link_to_new_and_existing_studies_and_can_be_moved(setup):
    review = setup.review
    first, second = setup.records[4], setup.records[5]
    for record in (first, second):
        to_full_text(setup, record)
    with pytest.raises(ValidationError, match="included at full text"):
        services.report_link(record=first, user=setup.tutor, new_study_label="Early 2020")
    for record in (first, second):
        for screener in (setup.s1, setup.s2):
            services.decision_record(record=record, stage=FT, screener=screener, decision=I)
    version = review.data_version
    with pytest.raises(PermissionDenied):
        services.report_link(record=first, user=setup.s1, new_study_label="Screener 2020")
    report = services.report_link(record=first, user=setup.tutor, new_study_label="Peer 2020")
    review.refresh_from_db()
    assert review.data_version > version  # a new study is an analysis input: the analyses recompute
    assert report.is_primary and report.study.label == "Peer 2020"
    second_report = services.report_link(record=second, user=setup.manager, study=report.study)
    assert not second_report.is_primary and report.study.reports.count() == 2
    # Linking never demotes the primary: asking for primary is refused, naming the current one ...
    with pytest.raises(ValidationError, match="is the primary report of Peer 2020") as refused:
        services.report_link(record=second, user=setup.manager, study=report.study, is_primary=True)
    assert first.title[:40] in str(refused.value)
    assert list(Report.objects.filter(study=report.study, is_primary=True).values_list("record", flat=True)) == [first.pk]
    # ... the explicit switch makes the second primary and says which report stopped being primary.
    with pytest.raises(PermissionDenied):
        services.report_make_primary(record=second, user=setup.s1)
    change = services.report_make_primary(record=second, user=setup.manager)
    assert change.report.record == second and change.demoted.record == first
    assert list(Report.objects.filter(study=report.study, is_primary=True).values_list("record", flat=True)) == [second.pk]
    assert services.report_make_primary(record=second, user=setup.manager).demoted is None  # already primary
    # Correct a link: move the primary to a new study; the old study's other report becomes primary.
    moved = services.report_link(record=second, user=setup.tutor, new_study_label="Peer 2021", new_study_year=2021)
    assert moved.study.label == "Peer 2021" and moved.is_primary
    assert Report.objects.get(record=first).is_primary
    with pytest.raises(ValidationError, match="linked to a study"):
        services.decision_record(record=second, stage=FT, screener=setup.s1, decision=E,
                                 exclusion_reason=setup.reasons[0])
    services.report_unlink(record=second, user=setup.tutor)
    assert not Report.objects.filter(record=second).exists()
    assert Study.objects.filter(review=review).count() == 2
    counts = selectors.prisma_counts(review)
    assert (counts.reports_included, counts.studies_included, counts.reports_unlinked) == (2, 1, 1)
