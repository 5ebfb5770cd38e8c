"""Writes of dual screening: screeners' decisions, tutors' resolutions, full texts, and linking
included records to studies.

Every write that depends on a record's screening state locks the record's row first (``FOR NO KEY
UPDATE``: it serialises writers of one record without blocking inserts that reference it), then
re-reads the state through the one status selector, so two screeners submitting at the same moment,
or one screener submitting ten times, always leave a consistent state. The database's unique and
check constraints remain the last line (``ScreeningDecision``'s one-per-screener, the full-text
rules).
"""
from __future__ import annotations

from dataclasses import dataclass
import hashlib
import time

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from reviewsite import shared_cache
from studies import access, selectors
from studies.models import (
    Decision,
    ExclusionReason,
    FullTextDocument,
    FullTextStatus,
    Record,
    Report,
    Review,
    Role,
    ScreeningDecision,
    ScreeningResolution,
    ScreeningStatus,
    Stage,
    Study,
)
from studies.models.screening import exclusion_reason_problem
from studies.services import prioritisation
from studies.services.entities import entity_delete, entity_save

PDF_MAGIC = b"%PDF-"

# The screening pages count progress from a snapshot plus the decisions made since (studies.pages.
# screening._progress); the snapshot cannot see a withdrawn decision or a record newly reaching full
# text, so the writes that cause those move this generation (after commit) and the next page recounts.
PROGRESS_GENERATION_KEY = "screening-progress-generation:{review}:{stage}"


def _progress_moved(review_id: int, stage: str) -> None:
    key = PROGRESS_GENERATION_KEY.format(review=review_id, stage=stage)
    transaction.on_commit(lambda: shared_cache.set(key, time.time_ns(), timeout=3600))


def _locked(record: Record) -> Record:
    """The record re-read under a row lock held until the transaction ends. Only the record's row
    (``of=self``): locking the joined review row too would queue every screener of the review
    behind each other's decisions."""
    return Record.objects.select_for_update(no_key=True, of=("self",)).select_related("review").get(pk=record.pk)


def _reason(*, review: Review, stage: str, decision: str, exclusion_reason: ExclusionReason | None,
            ) -> ExclusionReason | None:
    """Check a verdict's reason against the rule (``exclusion_reason_problem``, the same one the
    model validates); the error names what is wrong."""
    problem = exclusion_reason_problem(
        stage=stage, decision=decision, review_id=review.pk,
        reason_review_id=exclusion_reason.review_id if exclusion_reason is not None else None)
    if problem:
        raise ValidationError({"exclusion_reason": problem})
    return exclusion_reason


def _check_stage_and_decision(stage: str, decision: str, *, allowed_title_abstract: tuple[str, ...]) -> None:
    if stage not in Stage.values:
        raise ValidationError({"stage": f"Unknown stage {stage!r}: use {' or '.join(Stage.values)}."})
    allowed = allowed_title_abstract if stage == Stage.TITLE_ABSTRACT else (Decision.INCLUDE, Decision.EXCLUDE)
    if decision not in allowed:
        raise ValidationError({"decision": f"At {Stage(stage).label.lower()}, decide "
                                           f"{', '.join(str(a) for a in allowed)} (got {decision!r})."})


PAIR_COMPLETE = ("Both screeners have decided on this record, so its decisions can no longer change: "
                 "the record is settled by their agreement or, in a conflict, by a tutor.")


def _check_own_open(status: ScreeningStatus) -> None:
    """A screener's own decision may change (or be withdrawn) only while the other screener has not
    decided (the record, with the screener's decision, awaits its second): once both have, the pair
    stands. Otherwise a screener who learned the other's vote (or probed for it) could match it and
    hide a conflict from the tutor (DESIGN.md, blinding)."""
    if status != ScreeningStatus.AWAITING_SECOND:
        raise ValidationError(PAIR_COMPLETE)


def _check_open(record: Record, stage: str) -> ScreeningStatus:
    """Refuse writes to a record that does not reach the stage or whose verdict is settled."""
    if record.duplicate_of_id is not None:
        raise ValidationError("This record is a duplicate; it is screened as the record it duplicates.")
    status = selectors.record_stage_status(record=record, stage=stage)
    if status is None:
        raise ValidationError("This record has not passed title/abstract screening, so it has no full-text stage.")
    if status in (ScreeningStatus.RESOLVED_INCLUDE, ScreeningStatus.RESOLVED_EXCLUDE):
        raise ValidationError("A tutor has resolved this record at this stage; decisions can no longer change.")
    if stage == Stage.TITLE_ABSTRACT and ScreeningDecision.objects.filter(record=record, stage=Stage.FULL_TEXT).exists():
        raise ValidationError("This record is already at full text; its title/abstract decisions can no longer change.")
    if stage == Stage.FULL_TEXT:
        if record.fulltext_status == FullTextStatus.NOT_RETRIEVED:
            raise ValidationError("The full text was marked not retrieved; upload it before deciding.")
        if Report.objects.filter(record=record).exists():
            raise ValidationError("This record is linked to a study; unlink it before changing a full-text decision.")
    return status


@transaction.atomic
def decision_record(*, record: Record, stage: str, screener: AbstractBaseUser, decision: str,
                    exclusion_reason: ExclusionReason | None = None, note: str = "") -> ScreeningDecision:
    """Record (or change) a screener's decision on a record at a stage. Idempotent: the same decision
    submitted again leaves one row.

    Raises ``PermissionDenied`` for users without the screener role and ``ValidationError`` (nothing
    written) for a decision the rules refuse.
    """
    _check_stage_and_decision(stage, decision, allowed_title_abstract=tuple(Decision.values))
    record = _locked(record)
    review = record.review
    access.require_role(screener, review, {Role.SCREENER}, action="record screening decisions")
    reason = _reason(review=review, stage=stage, decision=decision, exclusion_reason=exclusion_reason)
    status = _check_open(record, stage)
    if stage == Stage.TITLE_ABSTRACT and (stopped_at := selectors.screening_stopped_at(review)) is not None \
            and Record.objects.filter(pk=record.pk).filter(selectors.left_by_stop(stopped_at)).exists():
        raise ValidationError(f"Title/abstract screening stopped on {stopped_at:%Y-%m-%d} by the team's decision "
                              "(stopping rule); this record was left unscreened. A manager can withdraw the "
                              "decision to screen it.")
    existing = ScreeningDecision.objects.filter(record=record, stage=stage, screener=screener).first()
    if existing is None:
        if ScreeningDecision.objects.filter(record=record, stage=stage).count() >= 2:
            raise ValidationError("This record already has its two decisions at this stage.")
        existing = ScreeningDecision(record=record, stage=stage, screener=screener)
    elif (existing.decision, existing.exclusion_reason_id, existing.note) == (decision, getattr(reason, "pk", None),
                                                                              note.strip()):
        return existing  # the same decision again (a double submit): nothing changes
    else:
        _check_own_open(status)
    existing.decision, existing.exclusion_reason, existing.note = decision, reason, note.strip()
    if stage == Stage.FULL_TEXT and record.fulltext_status in (FullTextStatus.NOT_SOUGHT, FullTextStatus.SOUGHT):
        # Deciding on a full text means someone read it (perhaps from the library, not uploaded).
        Record.objects.filter(pk=record.pk).update(fulltext_status=FullTextStatus.RETRIEVED)
    try:
        with transaction.atomic():  # a savepoint: a refused row leaves the outer transaction usable
            existing.save()
    except IntegrityError as failure:
        # Only a writer that bypasses the row lock (e.g. a raw insert) can get here.
        raise ValidationError(f"The decision was refused by the database: {failure}") from failure
    if stage == Stage.TITLE_ABSTRACT:
        verdicts = list(ScreeningDecision.objects.filter(record=record, stage=stage).values_list("decision", flat=True))
        if len(verdicts) >= 2 and Decision.EXCLUDE not in verdicts:  # the record now reaches full text
            _progress_moved(review.pk, Stage.FULL_TEXT)
        prioritisation.ranking_after_decision(review=review, screener=screener)
    return existing


@transaction.atomic
def decision_undo_last(*, review: Review, stage: str, screener: AbstractBaseUser) -> ScreeningDecision | None:
    """Withdraw the screener's most recent decision at a stage (the "undo" key); returns the withdrawn
    decision as it was (its record, verdict, reason and note, so the page can offer them again), or
    ``None`` when there is nothing left to undo."""
    access.require_role(screener, review, {Role.SCREENER}, action="undo screening decisions")
    last = (ScreeningDecision.objects.filter(record__review=review, stage=stage, screener=screener)
            .order_by("-updated_at", "-pk").first())
    if last is None:
        return None
    return _withdraw(last)


@transaction.atomic
def decision_withdraw(*, decision: ScreeningDecision, screener: AbstractBaseUser) -> ScreeningDecision:
    """Withdraw one of the screener's own decisions (the API's DELETE, the confirmation's "undo" and
    "my decisions"); returns it as it was when withdrawn. Refused once the pair is complete or the
    record's verdict is settled, as a change would be."""
    access.require_role(screener, decision.record.review, {Role.SCREENER}, action="withdraw screening decisions")
    if decision.screener_id != screener.pk:
        raise PermissionDenied("You can withdraw only your own decisions.")
    return _withdraw(decision)


def _withdraw(decision: ScreeningDecision) -> ScreeningDecision:
    """Delete a decision after locking its record and checking it may still change; the row as it was
    under the lock (another tab may have changed its note a moment ago)."""
    record = _locked(decision.record)
    current = (ScreeningDecision.objects.select_related("exclusion_reason")
               .filter(pk=decision.pk).first())
    if current is None:
        raise ValidationError("This decision was already withdrawn.")
    _check_own_open(_check_open(record, current.stage))
    if current.stage == Stage.TITLE_ABSTRACT and selectors.screening_stopped_at(record.review) is not None \
            and not ScreeningDecision.objects.filter(record=record, stage=current.stage).exclude(pk=current.pk).exists():
        # Withdrawn, it would become a record the stop left unscreened, which nobody may decide.
        raise ValidationError("Title/abstract screening has stopped: withdrawing the only decision on this record "
                              "would leave it unscreened. Change your decision instead.")
    ScreeningDecision.objects.filter(pk=current.pk).delete()
    _progress_moved(record.review_id, current.stage)
    current.record = record
    return current


@transaction.atomic
def resolution_record(*, record: Record, stage: str, tutor: AbstractBaseUser, decision: str,
                      exclusion_reason: ExclusionReason | None = None, rationale: str) -> ScreeningResolution:
    """A tutor's final decision on a record in conflict at a stage, with the reason for it."""
    _check_stage_and_decision(stage, decision, allowed_title_abstract=(Decision.INCLUDE, Decision.EXCLUDE))
    record = _locked(record)
    review = record.review
    access.require_role(tutor, review, {Role.TUTOR}, action="resolve conflicts")
    if ScreeningDecision.objects.filter(record=record, screener=tutor).exists():
        raise PermissionDenied("You screened this record; another tutor resolves it.")
    reason = _reason(review=review, stage=stage, decision=decision, exclusion_reason=exclusion_reason)
    if not rationale.strip():
        raise ValidationError({"rationale": "Give the reason for the resolution."})
    status = _check_open(record, stage)
    if status != ScreeningStatus.CONFLICT:
        raise ValidationError(f"Only conflicts are resolved; this record is “{status.label}”.")
    if stage == Stage.TITLE_ABSTRACT and decision == Decision.INCLUDE:
        _progress_moved(review.pk, Stage.FULL_TEXT)
    return ScreeningResolution.objects.create(record=record, stage=stage, tutor=tutor, decision=decision,
                                              exclusion_reason=reason, rationale=rationale.strip())


@transaction.atomic
def resolution_withdraw(*, resolution: ScreeningResolution, tutor: AbstractBaseUser) -> ScreeningResolution:
    """Withdraw a tutor's resolution (its "undo"): the record is a conflict again, with both screeners'
    decisions as they were. Only the tutor who resolved it, or a manager, may; refused while later work
    depends on it: full-text decisions after a title/abstract resolution, a study link after a
    full-text one. The audit trail records the deletion (database triggers). Returns the resolution as
    it was."""
    record = _locked(resolution.record)
    review = record.review
    roles = access.require_role(tutor, review, {Role.TUTOR, Role.MANAGER}, action="withdraw resolutions")
    current = ScreeningResolution.objects.select_related("exclusion_reason", "tutor").filter(pk=resolution.pk).first()
    if current is None:
        raise ValidationError("This resolution was already withdrawn.")
    if current.tutor_id != tutor.pk and Role.MANAGER not in roles:
        raise PermissionDenied("Only the tutor who made a resolution, or a manager, can withdraw it.")
    if current.stage == Stage.TITLE_ABSTRACT and (
            ScreeningDecision.objects.filter(record=record, stage=Stage.FULL_TEXT).exists()
            or ScreeningResolution.objects.filter(record=record, stage=Stage.FULL_TEXT).exists()):
        raise ValidationError("This record already has full-text decisions, which depend on this resolution; "
                              "it can no longer be withdrawn.")
    if current.stage == Stage.FULL_TEXT and Report.objects.filter(record=record).exists():
        raise ValidationError("This record is linked to a study, which depends on this resolution; "
                              "unlink it before withdrawing the resolution.")
    ScreeningResolution.objects.filter(pk=current.pk).delete()
    if current.stage == Stage.TITLE_ABSTRACT and current.decision == Decision.INCLUDE:
        _progress_moved(review.pk, Stage.FULL_TEXT)
    current.record = record
    return current


# -- Full texts --------------------------------------------------------------------------------


def _fulltext_record(record: Record, user: AbstractBaseUser) -> Record:
    record = _locked(record)
    access.require_role(user, record.review, {Role.SCREENER, Role.TUTOR, Role.MANAGER}, action="handle full texts")
    if selectors.record_stage_status(record=record, stage=Stage.FULL_TEXT) is None:
        raise ValidationError("This record has not passed title/abstract screening, so it has no full-text stage.")
    return record


@transaction.atomic
def fulltext_upload(*, record: Record, user: AbstractBaseUser, file_name: str, content: bytes) -> FullTextDocument:
    """Store a record's full-text PDF (replacing an earlier one) and mark it retrieved.

    The file must start with the PDF signature and be at most ``SCREENING_PDF_MAX_BYTES``.
    """
    limit = settings.SCREENING_PDF_MAX_BYTES
    if not content:
        raise ValidationError({"file": "The file is empty."})
    if len(content) > limit:
        raise ValidationError({"file": f"The file is {len(content) / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB."})
    if not content.startswith(PDF_MAGIC):
        raise ValidationError({"file": "This is not a PDF (a PDF file starts with %PDF-)."})
    record = _fulltext_record(record, user)
    document, _ = FullTextDocument.objects.update_or_create(record=record, defaults={
        "file_name": (file_name or "full-text.pdf")[-255:], "content": content, "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(), "uploaded_by": user,
    })
    Record.objects.filter(pk=record.pk).update(fulltext_status=FullTextStatus.RETRIEVED)
    return document


@transaction.atomic
def fulltext_mark_not_retrieved(*, record: Record, user: AbstractBaseUser) -> Record:
    """Record that the full text could not be obtained (PRISMA: "reports not retrieved")."""
    record = _fulltext_record(record, user)
    if ScreeningDecision.objects.filter(record=record, stage=Stage.FULL_TEXT).exists():
        raise ValidationError("This full text has already been assessed; it cannot be marked not retrieved.")
    if FullTextDocument.objects.filter(record=record).exists():
        raise ValidationError("A full text is uploaded for this record; it was retrieved.")
    Record.objects.filter(pk=record.pk).update(fulltext_status=FullTextStatus.NOT_RETRIEVED)
    record.fulltext_status = FullTextStatus.NOT_RETRIEVED
    return record


# -- Included records become studies -----------------------------------------------------------


@transaction.atomic
def report_link(*, record: Record, user: AbstractBaseUser, study: Study | None = None, new_study_label: str = "",
                new_study_year: int | None = None, is_primary: bool = False) -> Report:
    """Link a record included at full text to a study, new (by label) or existing; relinking a
    record moves it (a correction). The first report of a study is its primary one. Linking never
    demotes another report: asking for primary where the study already has one is refused with its
    name (``report_make_primary`` makes the switch and says which report stops being primary). A
    study left without a primary by a move gets its next report promoted. Studies are created
    through ``entity_save``, so the analyses recompute.
    """
    record = _locked(record)
    review = record.review
    access.require_role(user, review, {Role.TUTOR, Role.MANAGER}, action="link records to studies")
    if selectors.record_stage_status(record=record, stage=Stage.FULL_TEXT) not in selectors.PASSED:
        raise ValidationError("Only records included at full text are linked to studies.")
    if study is None:
        label = new_study_label.strip()
        if not label:
            raise ValidationError({"study": "Choose a study or give the new study's label."})
        study = entity_save(instance=Study(review=review, label=label, year=new_study_year or record.year))
    elif study.review_id != review.pk:
        raise ValidationError({"study": "This study belongs to another review."})
    report = Report.objects.filter(record=record).select_related("study").first()
    previous_study = report.study if report is not None and report.study_id != study.pk else None
    if report is None:
        report = Report(record=record, study=study)
    report.study = study
    primary = Report.objects.filter(study=study, is_primary=True).exclude(record=record).select_related("record").first()
    if is_primary and primary is not None:
        raise ValidationError({"is_primary": (
            f"“{primary.record.title[:120]}” is the primary report of {study.label}. Link this record as a "
            "further report, then make it primary (which says which report stops being primary).")})
    report.is_primary = primary is None
    entity_save(instance=report)
    if previous_study is not None:
        _primary_ensure(previous_study)
    return report


@dataclass(frozen=True)
class PrimaryChange:
    """What ``report_make_primary`` did: the study's primary report now, and the one it replaced."""

    report: Report
    demoted: Report | None


@transaction.atomic
def report_make_primary(*, record: Record, user: AbstractBaseUser) -> PrimaryChange:
    """Make a linked record its study's primary report, in place of the current one (returned, so the
    page can say which report stopped being primary). The study's row is locked, so two people making
    different reports primary at once end with one primary, the later one."""
    record = _locked(record)
    access.require_role(user, record.review, {Role.TUTOR, Role.MANAGER}, action="choose a study's primary report")
    report = Report.objects.filter(record=record).select_related("study").first()
    if report is None:
        raise ValidationError("This record is not linked to a study; link it first.")
    Study.objects.select_for_update(no_key=True).filter(pk=report.study_id).first()
    report.refresh_from_db(fields=["is_primary"])
    if report.is_primary:
        return PrimaryChange(report=report, demoted=None)
    demoted = Report.objects.filter(study=report.study, is_primary=True).select_related("record").first()
    if demoted is not None:  # first, so the one-primary constraint holds at every statement
        demoted.is_primary = False
        entity_save(instance=demoted)
    report.is_primary = True
    entity_save(instance=report)
    return PrimaryChange(report=report, demoted=demoted)


@transaction.atomic
def report_unlink(*, record: Record, user: AbstractBaseUser) -> None:
    """Remove a record's link to its study (the study keeps its other reports)."""
    record = _locked(record)
    access.require_role(user, record.review, {Role.TUTOR, Role.MANAGER}, action="link records to studies")
    report = Report.objects.filter(record=record).select_related("study").first()
    if report is None:
        return
    study = report.study
    entity_delete(instance=report)
    _primary_ensure(study)


def _primary_ensure(study: Study) -> None:
    if not Report.objects.filter(study=study, is_primary=True).exists():
        first = Report.objects.filter(study=study).order_by("record_id").first()
        if first is not None:
            Report.objects.filter(pk=first.pk).update(is_primary=True)
