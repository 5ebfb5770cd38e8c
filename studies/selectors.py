"""Reads of the review database (HackSoft style: views and APIs call these, never ad-hoc queries)."""
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest

from studies.models import (
    CandidateStatus,
    CheckState,
    Decision,
    DuplicateCandidate,
    FullTextStatus,
    Invitation,
    OutcomeData,
    RankedRecord,
    Record,
    Report,
    Review,
    ReviewMembership,
    RevManImport,
    RiskOfBiasAssessment,
    RiskOfBiasTool,
    RobDomain,
    Rob2Assessment,
    Role,
    SavedSearch,
    ScreenerRanking,
    ScreeningDecision,
    ScreeningOrder,
    ScreeningPrioritisation,
    ScreeningResolution,
    ScreeningStatus,
    SearchDigestOptOut,
    SearchRun,
    Stage,
    StoppingDecision,
    Study,
    StudyEstimate,
    StudyExtraction,
)


def public_reviews() -> QuerySet[Review]:
    """Published reviews with their study counts, for the front page."""
    return (
        Review.objects.filter(is_public=True)
        .annotate(included_studies=Count("studies", filter=Q(studies__is_included=True)))
        .order_by("title")
    )


def member_reviews(user) -> QuerySet[Review]:
    """The reviews whose team a user belongs to, in any role."""
    return Review.objects.filter(pk__in=ReviewMembership.objects.filter(user=user).values("review_id")).order_by("title")



def review_manager_names(review: Review) -> list[str]:
    """Usernames of a review's managers: whom a person refused something is told to ask."""
    return list(ReviewMembership.objects.filter(review=review, role=Role.MANAGER)
                .order_by("user__username").values_list("user__username", flat=True))

# --- Risk of bias and dual extraction (what ``studies.access`` then blinds) ----------------------


def rob2_assessments(review: Review) -> QuerySet[Rob2Assessment]:
    """A review's RoB 2 assessments with their answers and judgments (pass through
    ``access.rob2_assessments_visible`` before showing them)."""
    return (Rob2Assessment.objects.filter(study__review=review)
            .select_related("assessor", "study", "outcome").prefetch_related("answers", "domains"))


def rob1_assessments(review: Review) -> QuerySet[RiskOfBiasAssessment]:
    """A review's RoB 1 assessments with their judgments (pass through
    ``access.rob1_assessments_visible`` before showing them)."""
    return (RiskOfBiasAssessment.objects.filter(study__review=review)
            .select_related("assessor", "study").prefetch_related("judgments"))


def study_extractions(review: Review) -> QuerySet[StudyExtraction]:
    """A review's dual-extraction entries (pass through ``access.study_extractions_visible``)."""
    return (StudyExtraction.objects.filter(study__review=review).select_related("extractor", "study")
            .order_by("study", "extractor__username"))


# --- Screening (issue 7) ------------------------------------------------------------------------
#
# The status of a record at a stage is derived here and only here, from its decisions and
# resolution rows, by one SQL aggregate; the services re-read it under a row lock before writing.

# Title/abstract "unsure" advances a record like "include" (it goes on to full text).
ADVANCING = (Decision.INCLUDE, Decision.UNSURE)
PASSED = (ScreeningStatus.AGREED_INCLUDE, ScreeningStatus.RESOLVED_INCLUDE)
EXCLUDED = (ScreeningStatus.AGREED_EXCLUDE, ScreeningStatus.RESOLVED_EXCLUDE)
FINAL = PASSED + EXCLUDED


def screening_records(*, review: Review, stage: str) -> QuerySet[Record]:
    """The records that reach a stage: every non-duplicate at title/abstract; at full text, those
    that passed title/abstract (agreed or resolved include). Duplicates never reach screening, nor
    do the references an imported RevMan review brought (its included studies' reports, which that
    review had screened)."""
    records = Record.objects.filter(review=review, duplicate_of__isnull=True, revman_import__isnull=True)
    if stage == Stage.FULL_TEXT:
        # Only a record someone decided on can have passed: the first filter (a hashed set of ids)
        # keeps the per-record probes of the second to those, not every record of a large review.
        records = records.filter(_touched(review, Stage.TITLE_ABSTRACT)).filter(_passed(Stage.TITLE_ABSTRACT))
    return records


def _touched(review: Review, stage: str) -> Q:
    """A record of the review has a decision or a resolution at ``stage`` (uncorrelated subqueries,
    which PostgreSQL reads once into a hash; of this review's rows only, not the whole site's)."""
    return (Q(pk__in=ScreeningDecision.objects.filter(record__review=review, stage=stage).order_by()
              .values("record_id"))
            | Q(pk__in=ScreeningResolution.objects.filter(record__review=review, stage=stage).order_by()
                .values("record_id")))


def _passed(stage: str) -> Q:
    """A record passed ``stage``: a tutor included it, or (unresolved) it has two or more decisions
    and none excludes. The same rule as ``stage_status_queryset``'s include statuses."""
    resolutions = ScreeningResolution.objects.filter(record=OuterRef("pk"), stage=stage)
    excluding = ScreeningDecision.objects.filter(record=OuterRef("pk"), stage=stage, decision=Decision.EXCLUDE)
    at_stage = ScreeningDecision.objects.filter(record=OuterRef("pk"), stage=stage)
    another = ScreeningDecision.objects.filter(record=OuterRef("record"), stage=stage).exclude(pk=OuterRef("pk"))
    two_decisions = Exists(at_stage.filter(Exists(another)))
    return Exists(resolutions.filter(decision=Decision.INCLUDE)) | (~Exists(resolutions) & ~Exists(excluding) & two_decisions)


def stage_status_queryset(*, review: Review, stage: str, records: QuerySet[Record] | None = None,
                          decided_only: bool = False) -> QuerySet[Record]:
    """Records reaching ``stage`` annotated with ``status`` (a ``ScreeningStatus``); ``records``, when
    given, must be of ``review`` (decisions are looked up among the review's own); with
    ``decided_only``, only those with a decision or resolution there (every status but awaiting
    first: a large living review's many unscreened records are left out before any per-record work).

    Two or more decisions that all advance (include/unsure) are agreed include; all exclude is agreed
    exclude, unless at full text they give different reasons and the review counts that as a
    conflict; anything else is a conflict until a tutor resolves it. A resolution decides.
    """
    if records is None:
        records = screening_records(review=review, stage=stage)
    touched = _touched(review, stage)
    # A record nobody decided on awaits its first decision, known from the hashed ids of the decided
    # ones (``touched``), with no per-record work: most of a large living review. For the rest, two
    # correlated subqueries, each one index probe that returns the status itself: the tutor's
    # resolution, else the decisions counted in one pass. (A CASE over separate counts made
    # PostgreSQL run each count again in every WHEN: seven probes per record, 1.2 s for PRISMA at
    # 100,000 records.) No GROUP BY on the outer query, so statuses filter and count like columns.
    # order_by(): the models' default ordering (by record) would join the record table in each probe.
    resolved = (ScreeningResolution.objects.filter(record=OuterRef("pk"), stage=stage).order_by()
                .annotate(status=Case(When(decision=Decision.INCLUDE, then=Value(ScreeningStatus.RESOLVED_INCLUDE)),
                                      default=Value(ScreeningStatus.RESOLVED_EXCLUDE), output_field=CharField()))
                .values("status")[:1])
    counted = (ScreeningDecision.objects.filter(record=OuterRef("pk"), stage=stage).order_by().values("record")
               .annotate(n=Count("pk"), n_advancing=Count("pk", filter=Q(decision__in=ADVANCING))))
    agreed_exclude = Q(n_advancing=0)
    if stage == Stage.FULL_TEXT and review.fulltext_reason_conflict:
        counted = counted.annotate(n_reasons=Count("exclusion_reason", distinct=True))
        agreed_exclude &= Q(n_reasons__lte=1)
    decided = counted.annotate(status=Case(
        When(n=1, then=Value(ScreeningStatus.AWAITING_SECOND)),
        When(n_advancing=F("n"), then=Value(ScreeningStatus.AGREED_INCLUDE)),
        When(agreed_exclude, then=Value(ScreeningStatus.AGREED_EXCLUDE)),
        default=Value(ScreeningStatus.CONFLICT),
        output_field=CharField(),
    )).values("status")[:1]
    status = Coalesce(Subquery(resolved), Subquery(decided), Value(ScreeningStatus.AWAITING_FIRST),
                      output_field=CharField())
    if decided_only:
        return records.filter(touched).annotate(status=status)
    return records.annotate(status=Case(When(touched, then=status), default=Value(ScreeningStatus.AWAITING_FIRST),
                                        output_field=CharField()))


def record_stage_status(*, record: Record, stage: str) -> ScreeningStatus | None:
    """The status of one record at one stage, or ``None`` if the record does not reach the stage."""
    row = (stage_status_queryset(review=record.review, stage=stage,
                                 records=screening_records(review=record.review, stage=stage).filter(pk=record.pk))
           .values_list("status", flat=True).first())
    return ScreeningStatus(row) if row is not None else None


def stage_status_counts(*, review: Review, stage: str, records: QuerySet[Record] | None = None) -> dict[str, int]:
    """How many records (of ``records``, default all reaching the stage) are in each status at a
    stage (every status present, zero if none)."""
    if records is None:
        records = screening_records(review=review, stage=stage)
    counts = {status.value: 0 for status in ScreeningStatus}
    counts.update(stage_status_queryset(review=review, stage=stage, records=records)
                  .values_list("status").annotate(n=Count("pk")).order_by())
    return counts


@dataclass(frozen=True)
class PrismaPreviousVersion:
    """The "previous studies" column of the PRISMA 2020 flow diagram for updated reviews (Page et al.
    2021, BMJ 372:n71, figure 1, the template for updated reviews): what the records imported up to
    the previous version's cut-off contribute, as they stand now.

    ``records_awaiting_screening`` and ``reports_awaiting_classification`` count records of before
    the cut-off that are still unsettled: they belong to no box of the statement's template, but a
    living review must not lose them from the diagram.
    """

    at: datetime
    studies_included: int
    reports_included: int
    records_awaiting_screening: int
    reports_awaiting_classification: int


@dataclass(frozen=True)
class PrismaCounts:
    """The PRISMA 2020 flow of a review, computed from its records, decisions and resolutions.

    Box definitions are the statement's (Page MJ et al. The PRISMA 2020 statement: an updated
    guideline for reporting systematic reviews. BMJ 2021;372:n71, figure 1 and its explanation):

    - *records screened*: records whose title/abstract screening is settled (both screeners agreed,
      or a tutor resolved their conflict); *records excluded*: those settled as exclude;
    - *records awaiting screening*: records with no settled title/abstract decision yet (none, one,
      or a conflict waiting for the tutor), in their own box;
    - *reports sought for retrieval*: records that passed title/abstract; *reports not retrieved*:
      those whose full text was marked not retrieved; *reports awaiting classification*: sought and
      not (yet) retrieved or assessed, or assessed without a settled full-text decision (Cochrane's
      "studies awaiting classification"), in their own box;
    - *reports assessed for eligibility*: records with a settled full-text decision; *reports
      excluded* with their reasons; *reports of included studies* and *studies included*.

    So every stage adds up (``identities`` lists them) and every record lands in exactly one final
    box (``boxes``). With ``previous`` set, the flow counts only the records imported after the
    previous version's cut-off (the statement's "identification of new studies"), ``studies_included``
    and ``reports_included`` are the new ones, and ``studies_included_total`` /
    ``reports_included_total`` the whole review's.
    """

    identified_by_source: tuple[tuple[str, int], ...]
    identified: int
    duplicates_removed: int
    screened: int
    awaiting_screening: int
    excluded_screening: int
    sought: int
    not_retrieved: int
    awaiting_classification: int
    assessed: int
    excluded_by_reason: tuple[tuple[str, int], ...]
    excluded_fulltext: int
    reports_included: int
    studies_included: int
    reports_unlinked: int
    reports_of_previous_studies: int = 0
    previous: PrismaPreviousVersion | None = None
    studies_included_total: int = 0  # the whole review's, new and previous (= the flow's without ``previous``)
    reports_included_total: int = 0
    # Of ``awaiting_screening``: the records left unscreened when the team stopped by the stopping
    # rule (issue 22), which PRISMA 2020 asks to report (item 8 and the flow's "records not screened").
    not_screened_after_stopping_rule: int = 0

    def boxes(self) -> dict[str, int]:
        """The final box of every record of the flow, by name (they partition ``identified``)."""
        return {
            "duplicates_removed": self.duplicates_removed, "awaiting_screening": self.awaiting_screening,
            "excluded_screening": self.excluded_screening, "not_retrieved": self.not_retrieved,
            "awaiting_classification": self.awaiting_classification,
            **{f"excluded: {label}": n for label, n in self.excluded_by_reason},
            "reports_included": self.reports_included,
        }

    def identities(self) -> dict[str, tuple[int, int]]:
        """Each stage's sum, as (left side, right side): equal in every consistent flow."""
        found = {
            "identified = sum of sources": (self.identified, sum(n for _, n in self.identified_by_source)),
            "identified = duplicates removed + screened + awaiting screening":
                (self.identified, self.duplicates_removed + self.screened + self.awaiting_screening),
            "screened = excluded + sought for retrieval": (self.screened, self.excluded_screening + self.sought),
            "sought = not retrieved + awaiting classification + assessed":
                (self.sought, self.not_retrieved + self.awaiting_classification + self.assessed),
            "assessed = excluded + included": (self.assessed, self.excluded_fulltext + self.reports_included),
            "excluded = sum of reasons": (self.excluded_fulltext, sum(n for _, n in self.excluded_by_reason)),
        }
        if self.previous is not None:
            found["total studies = previous + new"] = (
                self.studies_included_total, self.previous.studies_included + self.studies_included)
            found["total reports = previous + new"] = (
                self.reports_included_total, self.previous.reports_included + self.reports_included)
        return found

    def as_json(self) -> dict:
        """Plain JSON-ready data (what the API answers and a release can store)."""
        return {
            "identified": {"total": self.identified,
                           "by_source": [{"source": s, "records": n} for s, n in self.identified_by_source]},
            "duplicates_removed": self.duplicates_removed,
            "screened": self.screened,
            "awaiting_screening": self.awaiting_screening,
            "not_screened_after_stopping_rule": self.not_screened_after_stopping_rule,
            "excluded_at_title_abstract": self.excluded_screening,
            "reports_sought": self.sought,
            "reports_not_retrieved": self.not_retrieved,
            "reports_awaiting_classification": self.awaiting_classification,
            "reports_assessed": self.assessed,
            "reports_excluded": {"total": self.excluded_fulltext,
                                 "by_reason": [{"reason": r, "reports": n} for r, n in self.excluded_by_reason]},
            "reports_included": self.reports_included,
            "studies_included": self.studies_included,
            "reports_not_yet_linked_to_a_study": self.reports_unlinked,
            "update": None if self.previous is None else {
                "previous_version_at": self.previous.at.isoformat(),
                "previous_studies_included": self.previous.studies_included,
                "previous_reports_included": self.previous.reports_included,
                "previous_records_awaiting_screening": self.previous.records_awaiting_screening,
                "previous_reports_awaiting_classification": self.previous.reports_awaiting_classification,
                "new_reports_of_previous_studies": self.reports_of_previous_studies,
                "studies_included_total": self.studies_included_total,
                "reports_included_total": self.reports_included_total,
            },
        }


def prisma_previous_version_at(review: Review) -> datetime | None:
    """The cut-off of the review's previous version for its PRISMA diagram, or ``None`` (a new review).

    The previous version is the review's latest release (PRISMA 2020's flow for updated reviews
    counts what was identified since it). Before a first release the data give one defensible
    boundary: the review as it stood when its first study was included. A search
    imported after that is an update of a review that already had results (the demo's 2022 PubMed
    batch of 40 records); a review that never imported anything after including a study has no
    previous version. A review imported from RevMan is an update of the review in the file: its
    previous version is the import.
    """
    if review.latest_release_at is not None:
        return review.latest_release_at
    imported_at = RevManImport.objects.filter(review=review).values_list("imported_at", flat=True).first()
    if imported_at is not None:
        return imported_at
    first_included = (Study.objects.filter(review=review, is_included=True)
                      .order_by("created_at").values_list("created_at", flat=True).first())
    if first_included is None or not Record.objects.filter(review=review, created_at__gt=first_included).exists():
        return None
    return first_included


def _prisma_flow(review: Review, some: Q = Q()) -> dict:
    """The identification-to-inclusion counts over the review's records that ``some`` selects (all,
    or one side of a previous version's cut-off), as keyword arguments of ``PrismaCounts``. (A
    condition, not a queryset of records: ``pk__in`` another scan of the records table cost a
    tenth of a second per stage at 100,000 records.)"""
    records = Record.objects.filter(some, review=review, revman_import__isnull=True)
    by_source = (records.values_list(Coalesce("import_batch__source__database", Value("Added without an import")))
                 .annotate(n=Count("pk")).order_by("-n"))
    identified_by_source = tuple((name, n) for name, n in by_source)
    duplicates = records.filter(duplicate_of__isnull=False).count()
    ta_records = screening_records(review=review, stage=Stage.TITLE_ABSTRACT).filter(some)
    ta = stage_status_counts(review=review, stage=Stage.TITLE_ABSTRACT, records=ta_records)
    passed = sum(ta[s] for s in PASSED)
    excluded_ta = sum(ta[s] for s in EXCLUDED)

    ft_records = screening_records(review=review, stage=Stage.FULL_TEXT).filter(some)
    ft = stage_status_queryset(review=review, stage=Stage.FULL_TEXT, records=ft_records)
    decision_reason = (ScreeningDecision.objects.filter(record=OuterRef("pk"), stage=Stage.FULL_TEXT,
                                                        exclusion_reason__isnull=False)
                       .order_by("exclusion_reason__order", "exclusion_reason__label")
                       .values("exclusion_reason__label")[:1])
    resolution_reason = (ScreeningResolution.objects.filter(record=OuterRef("pk"), stage=Stage.FULL_TEXT)
                         .values("exclusion_reason__label")[:1])
    rows = (ft.annotate(reason=Case(
                When(status=ScreeningStatus.RESOLVED_EXCLUDE, then=Subquery(resolution_reason)),
                When(status=ScreeningStatus.AGREED_EXCLUDE, then=Subquery(decision_reason)),
                default=Value(""), output_field=CharField()))
            .values_list("status", "fulltext_status", "reason").annotate(n=Count("pk")).order_by())
    not_retrieved = awaiting_classification = included = 0
    by_reason: dict[str, int] = {}
    for status, fulltext_status, reason, n in rows:
        if status in PASSED:
            included += n
        elif status in EXCLUDED:
            by_reason[reason] = by_reason.get(reason, 0) + n
        elif fulltext_status == FullTextStatus.NOT_RETRIEVED:
            not_retrieved += n
        else:
            awaiting_classification += n
    order = {label: i for i, label in enumerate(review.exclusion_reasons.values_list("label", flat=True))}
    excluded_by_reason = tuple(sorted(by_reason.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))
    included_records = ft.filter(status__in=PASSED).values("pk")
    studies = Study.objects.filter(review=review, reports__record__in=included_records).distinct().count()
    linked = Report.objects.filter(study__review=review, record__in=included_records).count()
    return {
        "identified_by_source": identified_by_source, "identified": sum(n for _, n in identified_by_source),
        "duplicates_removed": duplicates, "screened": passed + excluded_ta,
        "awaiting_screening": sum(ta.values()) - passed - excluded_ta, "excluded_screening": excluded_ta,
        "sought": passed, "not_retrieved": not_retrieved, "awaiting_classification": awaiting_classification,
        "assessed": included + sum(by_reason.values()), "excluded_by_reason": excluded_by_reason,
        "excluded_fulltext": sum(by_reason.values()), "reports_included": included, "studies_included": studies,
        "reports_unlinked": included - linked,
    }


def _included_records(review: Review) -> QuerySet[Record]:
    """Records included at full text (agreed or resolved), the reports of the included studies."""
    return (stage_status_queryset(review=review, stage=Stage.FULL_TEXT, decided_only=True)
            .filter(status__in=PASSED).values("pk"))


def prisma_counts(review: Review, previous_version_at: datetime | None = None) -> PrismaCounts:
    """The review's PRISMA 2020 counts, from the database (a few dozen queries, none per record).

    With ``previous_version_at`` the counts follow the statement's flow for updated reviews: the
    records created after it are the update's ("identification of new studies"), those created up to
    it make the previous version's column, and the totals sum the two. ``prisma_previous_version_at``
    chooses the cut-off the reader pages use.

    An exclusion at full text counts under the tutor's reason when resolved; when both screeners
    excluded (with the same reason, or different ones where the review does not count that as a
    conflict) under the first of their reasons in the review's order, the usual hierarchy of reasons.
    """
    # The references an imported RevMan review brought were not identified by any search here: they
    # are the reports of the previous version's included studies, whatever the cut-off.
    carried = Record.objects.filter(review=review, revman_import__isnull=False).values("pk")
    if previous_version_at is None and RevManImport.objects.filter(review=review).exists():
        previous_version_at = prisma_previous_version_at(review)
    if previous_version_at is None:
        flow = _prisma_flow(review)
        return PrismaCounts(**flow, studies_included_total=flow["studies_included"],
                            reports_included_total=flow["reports_included"],
                            not_screened_after_stopping_rule=records_not_screened_after_stopping_rule(review))
    flow = _prisma_flow(review, Q(created_at__gt=previous_version_at))
    before = _prisma_flow(review, Q(created_at__lte=previous_version_at))
    before["reports_included"] += carried.count()
    included = _included_records(review)
    old_included = included.filter(created_at__lte=previous_version_at)
    new_included = included.filter(created_at__gt=previous_version_at)
    # The previous version's studies: those its included records report, and those a RevMan review
    # brought (some RevMan files hold studies without references).
    previous_studies = Study.objects.filter(Q(reports__record__in=old_included)
                                            | Q(revman_import__isnull=False, is_included=True), review=review)
    new_studies = (Study.objects.filter(review=review, reports__record__in=new_included)
                   .exclude(pk__in=previous_studies.values("pk")))
    reports_of_previous = Report.objects.filter(study__in=previous_studies.values("pk"), record__in=new_included)
    flow["studies_included"] = new_studies.distinct().count()
    previous = PrismaPreviousVersion(
        at=previous_version_at, studies_included=previous_studies.distinct().count(),
        reports_included=before["reports_included"], records_awaiting_screening=before["awaiting_screening"],
        reports_awaiting_classification=before["awaiting_classification"],
    )
    return PrismaCounts(
        **flow, reports_of_previous_studies=reports_of_previous.count(), previous=previous,
        studies_included_total=Study.objects.filter(
            Q(reports__record__in=included) | Q(pk__in=previous_studies.values("pk")), review=review).distinct().count(),
        reports_included_total=before["reports_included"] + flow["reports_included"],
        not_screened_after_stopping_rule=records_not_screened_after_stopping_rule(
            review, created_after=previous_version_at),
    )


def _queue_start(*, review: Review, screener) -> int:
    """Where a screener starts on the ring of ``Record.screening_key`` values: the i-th screener of
    the review (in the order they joined) at fraction {i·φ} of the ring (golden-ratio spacing), so
    screeners start far apart and no two walk the same records at the same time."""
    screeners = list(ReviewMembership.objects.filter(review=review, role=Role.SCREENER)
                     .order_by("pk").values_list("user_id", flat=True))
    index = screeners.index(screener.pk) if screener.pk in screeners else screener.pk
    fraction = (index * 0.6180339887498949) % 1.0
    return int(fraction * 2 ** 32) - 2 ** 31


def screening_queue(*, review: Review, stage: str, screener) -> QuerySet[Record]:
    """The records still waiting for this screener at a stage, in ring order of ``screening_key``
    (a hash of the id: pseudo-random, stable): not decided by them, not already holding two
    decisions, and (full text) not marked not retrieved."""
    decisions = ScreeningDecision.objects.filter(record=OuterRef("pk"), stage=stage)
    another = ScreeningDecision.objects.filter(record=OuterRef("record"), stage=stage).exclude(pk=OuterRef("pk"))
    queue = (screening_records(review=review, stage=stage)
             .filter(~Exists(decisions.filter(screener=screener)), ~Exists(decisions.filter(Exists(another)))))
    if stage == Stage.FULL_TEXT:
        queue = queue.exclude(fulltext_status=FullTextStatus.NOT_RETRIEVED)
    elif (stopped_at := screening_stopped_at(review)) is not None:
        # The team stopped by the stopping rule: what it left unscreened is not offered (PRISMA counts
        # it "not screened after the stopping rule") until a manager withdraws the decision.
        queue = queue.filter(pk__in=_still_screened_after_stop(review, stopped_at))
    return queue.order_by("screening_key", "pk")


def screening_queue_next(*, review: Review, stage: str, screener, after: int | None = None) -> Record | None:
    """The screener's next record: the first of their queue after record ``after`` (the "next" key
    skips a record without deciding), else after the record they decided last, else from their
    starting point; wrapping round the ring at the end. An index range scan on
    ``record_screening_queue`` whatever the size of the review (bench/screening.py). At title/abstract
    in a ranked review, the screener's own ranking comes first (``ranked_queue_next``)."""
    if stage == Stage.TITLE_ABSTRACT:
        ranked = ranked_queue_next(review=review, screener=screener, after=after)
        if ranked is not None:
            return ranked
    queue = screening_queue(review=review, stage=stage, screener=screener)
    cursor = None
    if after is not None:
        cursor = Record.objects.filter(pk=after, review=review).values_list("screening_key", "pk").first()
    if cursor is None:
        # My latest decisions by the (screener, stage, updated_at) index, then the first of this
        # review's: joining on the review instead makes PostgreSQL read every record of it.
        latest = list(ScreeningDecision.objects.filter(screener=screener, stage=stage)
                      .order_by("-updated_at", "-pk").values_list("record_id", flat=True)[:50])
        keys = dict(Record.objects.filter(pk__in=latest, review=review).values_list("pk", "screening_key"))
        cursor = next(((keys[pk], pk) for pk in latest if pk in keys), None)
    if cursor is None:
        cursor = (_queue_start(review=review, screener=screener), 0)
    key, pk = cursor
    # The ``>=`` bound is what lets the index range scan start at the cursor; the OR alone makes
    # PostgreSQL filter the whole queue (75 ms at 100,000 records against 2 ms).
    later = queue.filter(Q(screening_key__gte=key), Q(screening_key__gt=key) | Q(pk__gt=pk)).first()
    return later if later is not None else queue.first()


# --- Work waiting (the home page's "Your reviews") --------------------------------------------------
#
# Counts of what is left to do, each for one role. None reveals another screener's or assessor's
# judgments: a screener's count is of their own queue; conflicts are counted only for tutors and
# managers (the page decides who sees which).


def screening_left(*, review: Review, stage: str, screener) -> int:
    """Records still waiting for this screener at a stage (their queue)."""
    return screening_queue(review=review, stage=stage, screener=screener).order_by().count()


def conflicts_waiting(*, review: Review, stage: str, tutor=None) -> int:
    """Records whose two decisions disagree and that no tutor has resolved yet; with ``tutor``, only
    those this tutor may resolve (not records they screened themselves)."""
    return conflicts_queryset(review=review, stage=stage, tutor=tutor).count()


def conflicts_queryset(*, review: Review, stage: str, tutor=None) -> QuerySet[Record]:
    """The records in conflict at a stage; with ``tutor``, without the records that tutor screened (at
    any stage: a screener does not settle their own disagreement, ``resolution_record`` refuses it)."""
    records = stage_status_queryset(review=review, stage=stage, decided_only=True).filter(
        status=ScreeningStatus.CONFLICT)
    if tutor is not None:
        records = records.exclude(pk__in=ScreeningDecision.objects.filter(record__review=review, screener=tutor)
                                  .values("record_id"))
    return records


def fulltexts_to_retrieve(*, review: Review, screener=None) -> int:
    """Records at full text whose PDF nobody has uploaded or marked not retrieved, while their full-text
    screening is still open; with ``screener``, only those still in that screener's queue (a record
    they have decided waits for the other screener or a tutor, who retrieve it from their own pages)."""
    records = (screening_queue(review=review, stage=Stage.FULL_TEXT, screener=screener) if screener is not None
               else stage_status_queryset(review=review, stage=Stage.FULL_TEXT).exclude(status__in=FINAL))
    return (records.filter(fulltext_document__isnull=True).exclude(fulltext_status=FullTextStatus.NOT_RETRIEVED)
            .order_by().count())


def duplicates_waiting(*, review: Review) -> int:
    """Pairs of possibly duplicate records waiting for a manager's decision."""
    return DuplicateCandidate.objects.filter(review=review, status=CandidateStatus.PENDING).count()


def values_awaiting_check(*, review: Review) -> QuerySet[OutcomeData]:
    """Outcome values held "awaiting check", with what the page lists beside each."""
    return (OutcomeData.objects.filter(study__review=review, check_state=CheckState.AWAITING_CHECK)
            .select_related("study", "outcome", "time_point", "arm", "subgroup", "entered_by")
            .order_by("study__label", "outcome__name", "time_point__order", "-arm__role", "arm__label"))


def estimates_awaiting_check(*, review: Review) -> QuerySet[StudyEstimate]:
    """Study estimates (generic inverse variance) held "awaiting check", as the page lists them."""
    return (StudyEstimate.objects.filter(study__review=review, check_state=CheckState.AWAITING_CHECK)
            .select_related("study", "outcome", "time_point", "subgroup", "entered_by")
            .order_by("study__label", "outcome__name", "time_point__order", "order", "pk"))


def values_awaiting_check_count(*, review: Review) -> int:
    """How many outcome values and study estimates wait for a second team member's check."""
    return (OutcomeData.objects.filter(study__review=review, check_state=CheckState.AWAITING_CHECK).count()
            + StudyEstimate.objects.filter(study__review=review, check_state=CheckState.AWAITING_CHECK).count())


@dataclass(frozen=True)
class PairedWork:
    """Items (studies, or results under RoB 2) a person has still to enter, and items whose two
    independent entries are in and wait for an agreed version."""

    to_enter: int
    to_agree: int


def study_has_extracted_data() -> ExpressionWrapper:
    """Whether the study (``OuterRef("pk")``) has extracted data: arm values or study estimates."""
    return ExpressionWrapper(Exists(OutcomeData.objects.filter(study=OuterRef("pk")))
                             | Exists(StudyEstimate.objects.filter(study=OuterRef("pk"))),
                             output_field=BooleanField())


def extraction_work(*, review: Review, extractor) -> PairedWork:
    """Included studies left to extract: under dual extraction, those without this extractor's
    submitted entry; otherwise those with no outcome data yet. To agree (dual): two or more entries
    submitted and no consensus recorded yet."""
    studies = Study.objects.filter(review=review, is_included=True)
    has_data = study_has_extracted_data()
    if not review.dual_extraction:
        return PairedWork(to_enter=studies.filter(~has_data).count(), to_agree=0)
    submitted = Q(extractions__submitted_at__isnull=False)
    rows = studies.annotate(entries=Count("extractions", filter=submitted),
                            mine=Count("extractions", filter=submitted & Q(extractions__extractor=extractor)),
                            agreed=ExpressionWrapper(Q(extraction_agreed_at__isnull=False), output_field=BooleanField())
                            ).values_list("entries", "mine", "agreed")
    return PairedWork(to_enter=sum(1 for _, mine, _ in rows if not mine),
                      to_agree=sum(1 for entries, _, agreed in rows if entries >= 2 and not agreed))


def rob2_items(*, review: Review) -> set[tuple[int, int]]:
    """What RoB 2 assesses: each (study, outcome) of an included study with data for that outcome,
    arm data or a study estimate (generic inverse variance)."""
    included = Q(study__review=review, study__is_included=True)
    return (set(OutcomeData.objects.filter(included).values_list("study_id", "outcome_id").distinct())
            | set(StudyEstimate.objects.filter(included).values_list("study_id", "outcome_id").distinct()))


def rob_work(*, review: Review, assessor) -> PairedWork:
    """Risk-of-bias items left to assess (no submitted assessment by this assessor) and items with two
    or more submitted assessments and no consensus yet, under the review's tool: per included study
    (RoB 1) or per study and outcome with data (RoB 2)."""
    if review.rob_tool == RiskOfBiasTool.ROB2:
        items = rob2_items(review=review)
        rows = Rob2Assessment.objects.filter(study__review=review).values_list(
            "study_id", "outcome_id", "assessor_id", "is_consensus", "submitted_at")
        keyed = [((s, o), a, c, t) for s, o, a, c, t in rows]
    else:
        # A study whose consensus came with an imported review (RevMan) is settled: nobody here is asked
        # to assess it again (the team may still, and a new consensus replaces the imported one).
        # Only one that judges every domain but "other bias": a file judging a domain or two (Fleiss 1993
        # judges allocation concealment alone) leaves the rest to the team.
        key_domains = Count("judgments", filter=~Q(judgments__domain=RobDomain.OTHER))
        imported = RiskOfBiasAssessment.objects.filter(study__review=review, is_consensus=True).exclude(
            imported_from="").annotate(domains=key_domains).filter(domains__gte=len(RobDomain) - 1).values(
            "study_id")
        items = {(pk,) for pk in Study.objects.filter(review=review, is_included=True).exclude(pk__in=imported)
                 .values_list("pk", flat=True)}
        rows = RiskOfBiasAssessment.objects.filter(study__review=review).values_list(
            "study_id", "assessor_id", "is_consensus", "submitted_at")
        keyed = [((s,), a, c, t) for s, a, c, t in rows]
    mine, submitted, agreed = set(), {}, set()
    for item, assessor_id, is_consensus, submitted_at in keyed:
        if is_consensus:
            agreed.add(item)
        elif submitted_at is not None:
            submitted[item] = submitted.get(item, 0) + 1
            if assessor_id == assessor.pk:
                mine.add(item)
    return PairedWork(to_enter=len(items - mine),
                      to_agree=sum(1 for item in items if submitted.get(item, 0) >= 2 and item not in agreed))


# --- The team (issue 18) --------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamWork:
    """How much of their own work one person has done in a review (counts only, never verdicts)."""

    title_abstract: int = 0
    full_text: int = 0
    resolutions: int = 0
    rob_submitted: int = 0
    extractions_submitted: int = 0


@dataclass(frozen=True)
class TeamPerson:
    """Someone on the team (``memberships`` their roles), or someone who did work in the review and
    holds no role any more (``memberships`` empty: what they did stays theirs)."""

    user_id: int
    username: str
    email: str
    memberships: tuple[ReviewMembership, ...]
    work: TeamWork


def team_people(review: Review) -> list[TeamPerson]:
    """The review's people with their roles and work, by username. Six queries whatever the size of
    the team or of the review: one per kind of work (grouped by person), the memberships, and the
    names of former members who did work."""
    memberships: dict[int, list[ReviewMembership]] = {}
    names: dict[int, tuple[str, str]] = {}
    for membership in ReviewMembership.objects.filter(review=review).select_related("user").order_by("role"):
        memberships.setdefault(membership.user_id, []).append(membership)
        names[membership.user_id] = (membership.user.get_username(), membership.user.email)
    work: dict[int, dict[str, int]] = {}

    def add(rows, field: str) -> None:
        for user_id, count in rows:
            work.setdefault(user_id, {}).setdefault(field, 0)
            work[user_id][field] += count

    decisions = (ScreeningDecision.objects.filter(record__review=review).order_by()
                 .values_list("screener_id", "stage").annotate(n=Count("pk")))
    for user_id, stage, count in decisions:
        add([(user_id, count)], "title_abstract" if stage == Stage.TITLE_ABSTRACT else "full_text")
    add(ScreeningResolution.objects.filter(record__review=review).order_by().values_list("tutor_id")
        .annotate(n=Count("pk")), "resolutions")
    for model in (RiskOfBiasAssessment, Rob2Assessment):
        add(model.objects.filter(study__review=review, is_consensus=False, submitted_at__isnull=False,
                                  assessor__isnull=False).order_by()
            .values_list("assessor_id").annotate(n=Count("pk")), "rob_submitted")
    add(StudyExtraction.objects.filter(study__review=review, submitted_at__isnull=False).order_by()
        .values_list("extractor_id").annotate(n=Count("pk")), "extractions_submitted")
    former = set(work) - set(names)
    if former:
        for user_id, username, email in get_user_model().objects.filter(pk__in=former).values_list(
                "pk", "username", "email"):
            names[user_id] = (username, email)
    people = [TeamPerson(user_id=user_id, username=username, email=email,
                         memberships=tuple(memberships.get(user_id, ())), work=TeamWork(**work.get(user_id, {})))
              for user_id, (username, email) in names.items()]
    return sorted(people, key=lambda person: (not person.memberships, person.username.lower()))


def review_invitations(review: Review) -> QuerySet[Invitation]:
    """A review's invitations, newest first, with who sent and who accepted them."""
    return (Invitation.objects.filter(review=review).select_related("invited_by", "accepted_by")
            .order_by("-sent_at", "-pk"))


# --- Living searches (issue 21) ---------------------------------------------------------------------


def saved_searches(review: Review) -> list[SavedSearch]:
    """A review's saved searches, each with ``last_run`` (its newest run, or None): two queries."""
    searches = list(SavedSearch.objects.filter(review=review).order_by("database", "pk"))
    latest = (SearchRun.objects.filter(search__review=review).order_by("search_id", "-started_at", "-pk")
              .distinct("search_id"))
    by_search = {run.search_id: run for run in latest}
    for search in searches:
        search.last_run = by_search.get(search.pk)
    return searches


def search_runs(search: SavedSearch) -> QuerySet[SearchRun]:
    """A search's runs, newest first, with who started them and their batch."""
    return SearchRun.objects.filter(search=search).select_related("started_by").order_by("-started_at", "-pk")


def digest_opted_out(*, review: Review, user) -> bool:
    """Whether ``user`` turned off the e-mail digest of new records from the review's searches."""
    return SearchDigestOptOut.objects.filter(review=review, user=user).exists()


# --- Prioritised screening (issue 22) ---------------------------------------------------------------

SETTLED_INCLUDE = (ScreeningStatus.AGREED_INCLUDE, ScreeningStatus.RESOLVED_INCLUDE)
SETTLED = (*SETTLED_INCLUDE, ScreeningStatus.AGREED_EXCLUDE, ScreeningStatus.RESOLVED_EXCLUDE)


def settled_verdicts(*, review: Review, stage: str) -> dict[int, int]:
    """{record id: 1 if it passed, 0 if excluded} for every record settled at a stage (agreed or
    resolved): what the whole screening team may see."""
    return {pk: int(status in SETTLED_INCLUDE) for pk, status in
            stage_status_queryset(review=review, stage=stage, decided_only=True).filter(status__in=SETTLED)
            .values_list("pk", "status")}


def screening_ranked(review: Review) -> bool:
    """The review's manager chose to rank the title/abstract queue by predicted relevance."""
    return ScreeningPrioritisation.objects.filter(review=review, order=ScreeningOrder.RANKED).exists()


def ranked_queue_next(*, review: Review, screener, after: int | None = None) -> Record | None:
    """The screener's next title/abstract record by their own stored ranking (the highest-ranked
    record still in their queue, after record ``after`` when the "next" key skipped it), or None when
    the review is not ranked, the screener has no ranking yet (before their first include and
    exclude), or every ranked record has left their queue: the caller then falls back to the ring
    order. An index scan of the ranking by position, checking each record against the queue."""
    if not screening_ranked(review):
        return None
    ranking_id = (ScreenerRanking.objects.filter(review=review, screener=screener)
                  .values_list("pk", flat=True).first())
    if ranking_id is None:
        return None
    queue = screening_queue(review=review, stage=Stage.TITLE_ABSTRACT, screener=screener)
    ranked = (RankedRecord.objects.filter(ranking_id=ranking_id)
              .filter(Exists(queue.order_by().filter(pk=OuterRef("record_id")))).order_by("position"))
    if screening_stopped_at(review) is not None:
        # Not a scan of every ranked position past the records the stop left: only the few still
        # offered (the queue is then read from a short list of them).
        ranked = ranked.filter(record_id__in=queue.order_by().values("pk"))
    if after is not None:
        skipped = RankedRecord.objects.filter(ranking_id=ranking_id, record_id=after).values_list(
            "position", flat=True).first()
        if skipped is not None:
            later = ranked.filter(position__gt=skipped).values_list("record_id", flat=True).first()
            if later is not None:
                return Record.objects.get(pk=later)
    first = ranked.values_list("record_id", flat=True).first()
    return Record.objects.get(pk=first) if first is not None else None


def ranked_record_terms(*, review: Review, screener, record: Record) -> list[str]:
    """Why a record is where it is in the screener's ranking: its terms that weigh most for relevance
    (empty when the queue is not ranked for them)."""
    terms = (RankedRecord.objects.filter(ranking__review=review, ranking__screener=screener, record=record)
             .values_list("top_terms", flat=True).first())
    return list(terms or [])


@dataclass(frozen=True)
class StoppingEvidence:
    """What the stopping rule is computed from: the review's title/abstract records, the settled ones
    in the order they were settled, split at the moment ranking began."""

    records_total: int
    known_before: int          # settled before ranking began (not part of the rule's sample)
    relevant_before: int
    ranked_labels: list[int]   # 1/0 of the records settled since ranking began, in that order
    ranked_since: object       # datetime | None


def stopping_evidence(*, review: Review) -> StoppingEvidence:
    """The settled title/abstract records of a review in the order they were settled. Only settled
    records count (agreed or resolved): an unsettled vote is blind to the rest of the team, and the
    counts on the manager's page must not reveal it. A record is settled when its last decision or
    its tutor's resolution was made."""
    stage = Stage.TITLE_ABSTRACT
    last_decision = (ScreeningDecision.objects.filter(record=OuterRef("pk"), stage=stage).order_by()
                     .values("record").annotate(at=Max("updated_at")).values("at")[:1])
    resolved = ScreeningResolution.objects.filter(record=OuterRef("pk"), stage=stage).values("resolved_at")[:1]
    settled = list(stage_status_queryset(review=review, stage=stage, decided_only=True).filter(status__in=SETTLED)
                   .annotate(settled_at=Greatest(Subquery(last_decision), Subquery(resolved)))
                   .order_by("settled_at", "pk").values_list("status", "settled_at"))
    total = screening_records(review=review, stage=stage).count()
    since, order, changed_at = (ScreeningPrioritisation.objects.filter(review=review)
                                .values_list("ranked_since", "order", "changed_at").first() or (None, None, None))
    # The rule's sample is the records settled while the queue was ranked. Once the manager puts it
    # back in its ring order (``changed_at``, the setting is saved only when the order changes), the
    # records settled after are screened but no part of a ranked sample: they count as found
    # outside the sample, like the ones before ranking began (Callaghan & Müller-Hansen's guarantee
    # rests on the ranked order).
    until = changed_at if since is not None and order != ScreeningOrder.RANKED else None

    def sampled(at) -> bool:
        return since is not None and at >= since and (until is None or at < until)

    before = [status for status, at in settled if not sampled(at)]
    after = [int(status in SETTLED_INCLUDE) for status, at in settled if sampled(at)]
    return StoppingEvidence(
        records_total=total, known_before=len(before),
        relevant_before=sum(status in SETTLED_INCLUDE for status in before),
        ranked_labels=after, ranked_since=since)


def records_not_screened_after_stopping_rule(review: Review, created_after: datetime | None = None) -> int:
    """PRISMA 2020's "records not screened after the stopping rule": title/abstract records nobody
    had decided on when the team's standing decision to stop was recorded (0 when it has none).
    Records imported after that decision are new search results, not counted here; with
    ``created_after`` (a previous version's cut-off) only the update's records count."""
    stopped_at = screening_stopped_at(review)
    if stopped_at is None:
        return 0
    records = screening_records(review=review, stage=Stage.TITLE_ABSTRACT).filter(left_by_stop(stopped_at))
    if created_after is not None:
        records = records.filter(created_at__gt=created_after)
    return records.count()


def screening_stopped_at(review: Review):
    """When the team's standing decision to stop title/abstract screening was recorded, or None."""
    return (StoppingDecision.objects.filter(review=review, withdrawn_at__isnull=True)
            .values_list("decided_at", flat=True).first())


def left_by_stop(stopped_at) -> Q:
    """The records (``Record``) the decision to stop left unscreened at title/abstract: there when it
    was recorded and decided by nobody. Records imported since are new search results, screened as
    usual; records one screener had decided get their second decision. (After the stop nobody can
    decide a left record, and the only decision on a record cannot be withdrawn, so the set does not
    move; not timing the decisions also keeps a decision committed while the stop was being recorded
    from leaving its record half screened.)"""
    decided = ScreeningDecision.objects.filter(record=OuterRef("pk"), stage=Stage.TITLE_ABSTRACT)
    return Q(created_at__lt=stopped_at) & ~Exists(decided)


def _still_screened_after_stop(review: Review, stopped_at) -> list[int]:
    """The title/abstract records screening still offers once the team has stopped: those imported
    since, and those waiting for their second decision. Both sets are small, so the queue is read from
    them instead of walking the whole review past the records the stop left."""
    since = list(Record.objects.filter(review=review, created_at__gte=stopped_at).values_list("pk", flat=True))
    awaiting_second = list(ScreeningDecision.objects.filter(record__review=review, stage=Stage.TITLE_ABSTRACT)
                           .values("record_id").annotate(votes=Count("pk")).filter(votes=1)
                           .values_list("record_id", flat=True))
    return since + awaiting_second
