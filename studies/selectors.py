"""Reads of the review database (HackSoft style: views and APIs call these, never ad-hoc queries)."""
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from studies.models import (
    CandidateStatus,
    CheckState,
    Decision,
    DuplicateCandidate,
    FullTextStatus,
    Invitation,
    OutcomeData,
    Record,
    Report,
    Review,
    ReviewMembership,
    RiskOfBiasAssessment,
    RiskOfBiasTool,
    Rob2Assessment,
    Role,
    ScreeningDecision,
    ScreeningResolution,
    ScreeningStatus,
    Stage,
    Study,
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
    that passed title/abstract (agreed or resolved include). Duplicates never reach screening."""
    records = Record.objects.filter(review=review, duplicate_of__isnull=True)
    if stage == Stage.FULL_TEXT:
        records = records.filter(_passed(Stage.TITLE_ABSTRACT))
    return records


def _decision_count(stage: str, condition: Q = Q(), distinct: str | None = None) -> Coalesce:
    """A correlated count of a record's decisions at a stage (one index probe per record; no GROUP BY
    on the outer query, so statuses can be filtered and counted like plain columns)."""
    rows = ScreeningDecision.objects.filter(condition, record=OuterRef("pk"), stage=stage).order_by()
    counted = Count(distinct, distinct=True) if distinct else Count("pk")
    return Coalesce(Subquery(rows.values("record").annotate(n=counted).values("n")[:1]), 0)


def _passed(stage: str) -> Q:
    """A record passed ``stage``: a tutor included it, or (unresolved) it has two or more decisions
    and none excludes. The same rule as ``stage_status_queryset``'s include statuses."""
    resolutions = ScreeningResolution.objects.filter(record=OuterRef("pk"), stage=stage)
    excluding = ScreeningDecision.objects.filter(record=OuterRef("pk"), stage=stage, decision=Decision.EXCLUDE)
    at_stage = ScreeningDecision.objects.filter(record=OuterRef("pk"), stage=stage)
    another = ScreeningDecision.objects.filter(record=OuterRef("record"), stage=stage).exclude(pk=OuterRef("pk"))
    two_decisions = Exists(at_stage.filter(Exists(another)))
    return Exists(resolutions.filter(decision=Decision.INCLUDE)) | (~Exists(resolutions) & ~Exists(excluding) & two_decisions)


def stage_status_queryset(*, review: Review, stage: str, records: QuerySet[Record] | None = None) -> QuerySet[Record]:
    """Records reaching ``stage`` annotated with ``status`` (a ``ScreeningStatus``), ``n_decisions``,
    and the tutor's ``resolution`` decision if any.

    Two or more decisions that all advance (include/unsure) are agreed include; all exclude is agreed
    exclude, unless at full text they give different reasons and the review counts that as a
    conflict; anything else is a conflict until a tutor resolves it. A resolution decides.
    """
    if records is None:
        records = screening_records(review=review, stage=stage)
    resolution = ScreeningResolution.objects.filter(record=OuterRef("pk"), stage=stage).values("decision")[:1]
    queryset = records.annotate(
        resolution=Subquery(resolution),
        n_decisions=_decision_count(stage),
        n_advancing=_decision_count(stage, Q(decision__in=ADVANCING)),
    )
    agreed_exclude = Q(n_advancing=0)
    if stage == Stage.FULL_TEXT and review.fulltext_reason_conflict:
        queryset = queryset.annotate(n_reasons=_decision_count(stage, distinct="exclusion_reason"))
        agreed_exclude &= Q(n_reasons__lte=1)
    return queryset.annotate(status=Case(
        When(resolution=Decision.INCLUDE, then=Value(ScreeningStatus.RESOLVED_INCLUDE)),
        When(resolution=Decision.EXCLUDE, then=Value(ScreeningStatus.RESOLVED_EXCLUDE)),
        When(n_decisions=0, then=Value(ScreeningStatus.AWAITING_FIRST)),
        When(n_decisions=1, then=Value(ScreeningStatus.AWAITING_SECOND)),
        When(n_advancing=F("n_decisions"), then=Value(ScreeningStatus.AGREED_INCLUDE)),
        When(agreed_exclude, then=Value(ScreeningStatus.AGREED_EXCLUDE)),
        default=Value(ScreeningStatus.CONFLICT),
        output_field=CharField(),
    ))


def record_stage_status(*, record: Record, stage: str) -> ScreeningStatus | None:
    """The status of one record at one stage, or ``None`` if the record does not reach the stage."""
    row = (stage_status_queryset(review=record.review, stage=stage,
                                 records=screening_records(review=record.review, stage=stage).filter(pk=record.pk))
           .values_list("status", flat=True).first())
    return ScreeningStatus(row) if row is not None else None


def stage_status_counts(*, review: Review, stage: str) -> dict[str, int]:
    """How many records are in each status at a stage (every status present, zero if none)."""
    counts = {status.value: 0 for status in ScreeningStatus}
    rows = stage_status_queryset(review=review, stage=stage).values("status").annotate(n=Count("pk")).order_by()
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


@dataclass(frozen=True)
class PrismaCounts:
    """The PRISMA 2020 flow of a review (Page et al. 2021, BMJ 372:n71, flow diagram for new
    reviews with databases), computed from its records, decisions and resolutions.

    Every record lands in exactly one final box: ``duplicates_removed``, ``awaiting_screening``,
    ``excluded_screening``, ``not_retrieved``, ``awaiting_assessment``, one of ``excluded_by_reason``
    or ``reports_included``; so those add up to ``identified``. A living review also has records
    still on their way, which PRISMA 2020 reports as awaiting classification.
    """

    identified_by_source: tuple[tuple[str, int], ...]
    identified: int
    duplicates_removed: int
    screened: int
    awaiting_screening: int
    excluded_screening: int
    sought: int
    not_retrieved: int
    assessed: int
    awaiting_assessment: int
    excluded_by_reason: tuple[tuple[str, int], ...]
    excluded_fulltext: int
    reports_included: int
    studies_included: int
    reports_unlinked: int

    def boxes(self) -> dict[str, int]:
        """The final box of every record, by name (they partition ``identified``)."""
        return {
            "duplicates_removed": self.duplicates_removed, "awaiting_screening": self.awaiting_screening,
            "excluded_screening": self.excluded_screening, "not_retrieved": self.not_retrieved,
            "awaiting_assessment": self.awaiting_assessment,
            **{f"excluded: {label}": n for label, n in self.excluded_by_reason},
            "reports_included": self.reports_included,
        }

    def as_json(self) -> dict:
        return {
            "identified": {"total": self.identified,
                           "by_source": [{"source": s, "records": n} for s, n in self.identified_by_source]},
            "duplicates_removed": self.duplicates_removed,
            "screened": self.screened,
            "awaiting_screening": self.awaiting_screening,
            "excluded_at_title_abstract": self.excluded_screening,
            "reports_sought": self.sought,
            "reports_not_retrieved": self.not_retrieved,
            "reports_assessed": self.assessed,
            "reports_awaiting_assessment": self.awaiting_assessment,
            "reports_excluded": {"total": self.excluded_fulltext,
                                 "by_reason": [{"reason": r, "reports": n} for r, n in self.excluded_by_reason]},
            "reports_included": self.reports_included,
            "studies_included": self.studies_included,
            "reports_not_yet_linked_to_a_study": self.reports_unlinked,
        }


def prisma_counts(review: Review) -> PrismaCounts:
    """The review's PRISMA 2020 counts, from the database (a handful of queries, none per record).

    An exclusion at full text counts under the tutor's reason when resolved; when both screeners
    excluded (with the same reason, or different ones where the review does not count that as a
    conflict) under the first of their reasons in the review's order, the usual hierarchy of reasons.
    """
    by_source = (Record.objects.filter(review=review)
                 .values_list(Coalesce("import_batch__source__database", Value("Added without an import")))
                 .annotate(n=Count("pk")).order_by("-n"))
    identified_by_source = tuple((name, n) for name, n in by_source)
    identified = sum(n for _, n in identified_by_source)
    duplicates = Record.objects.filter(review=review, duplicate_of__isnull=False).count()
    ta = stage_status_counts(review=review, stage=Stage.TITLE_ABSTRACT)
    screened = sum(ta.values())
    passed = sum(ta[s] for s in PASSED)
    excluded_ta = sum(ta[s] for s in EXCLUDED)

    ft = stage_status_queryset(review=review, stage=Stage.FULL_TEXT)
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
    not_retrieved = awaiting_assessment = included = 0
    by_reason: dict[str, int] = {}
    for status, fulltext_status, reason, n in rows:
        if status in PASSED:
            included += n
        elif status in EXCLUDED:
            by_reason[reason] = by_reason.get(reason, 0) + n
        elif fulltext_status == FullTextStatus.NOT_RETRIEVED:
            not_retrieved += n
        else:
            awaiting_assessment += n
    order = {label: i for i, label in enumerate(review.exclusion_reasons.values_list("label", flat=True))}
    excluded_by_reason = tuple(sorted(by_reason.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))
    included_records = ft.filter(status__in=PASSED).values("pk")
    studies = Study.objects.filter(review=review, reports__record__in=included_records).distinct().count()
    linked = Report.objects.filter(study__review=review, record__in=included_records).count()
    return PrismaCounts(
        identified_by_source=identified_by_source, identified=identified, duplicates_removed=duplicates,
        screened=screened, awaiting_screening=screened - passed - excluded_ta, excluded_screening=excluded_ta,
        sought=passed, not_retrieved=not_retrieved, assessed=included + sum(by_reason.values()),
        awaiting_assessment=awaiting_assessment, excluded_by_reason=excluded_by_reason,
        excluded_fulltext=sum(by_reason.values()), reports_included=included, studies_included=studies,
        reports_unlinked=included - linked,
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
    return queue.order_by("screening_key", "pk")


def screening_queue_next(*, review: Review, stage: str, screener, after: int | None = None) -> Record | None:
    """The screener's next record: the first of their queue after record ``after`` (the "next" key
    skips a record without deciding), else after the record they decided last, else from their
    starting point; wrapping round the ring at the end. An index range scan on
    ``record_screening_queue`` whatever the size of the review (bench/screening.py)."""
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


def conflicts_waiting(*, review: Review, stage: str) -> int:
    """Records whose two decisions disagree and that no tutor has resolved yet."""
    return stage_status_queryset(review=review, stage=stage).filter(status=ScreeningStatus.CONFLICT).count()


def fulltexts_to_retrieve(*, review: Review) -> int:
    """Records at full text whose PDF nobody has uploaded or marked not retrieved, while their full-text
    screening is still open."""
    return (stage_status_queryset(review=review, stage=Stage.FULL_TEXT).exclude(status__in=FINAL)
            .filter(fulltext_document__isnull=True).exclude(fulltext_status=FullTextStatus.NOT_RETRIEVED)
            .count())


def duplicates_waiting(*, review: Review) -> int:
    """Pairs of possibly duplicate records waiting for a manager's decision."""
    return DuplicateCandidate.objects.filter(review=review, status=CandidateStatus.PENDING).count()


def values_awaiting_check(*, review: Review) -> QuerySet[OutcomeData]:
    """Outcome values held "awaiting check", with what the page lists beside each."""
    return (OutcomeData.objects.filter(study__review=review, check_state=CheckState.AWAITING_CHECK)
            .select_related("study", "outcome", "time_point", "arm", "entered_by")
            .order_by("study__label", "outcome__name", "time_point__order", "-arm__role", "arm__label"))


def values_awaiting_check_count(*, review: Review) -> int:
    """How many outcome values wait for a second team member's check."""
    return OutcomeData.objects.filter(study__review=review, check_state=CheckState.AWAITING_CHECK).count()


@dataclass(frozen=True)
class PairedWork:
    """Items (studies, or results under RoB 2) a person has still to enter, and items whose two
    independent entries are in and wait for an agreed version."""

    to_enter: int
    to_agree: int


def extraction_work(*, review: Review, extractor) -> PairedWork:
    """Included studies left to extract: under dual extraction, those without this extractor's
    submitted entry; otherwise those with no outcome data yet. To agree (dual): two or more entries
    submitted and no agreed outcome data yet."""
    studies = Study.objects.filter(review=review, is_included=True)
    has_data = Exists(OutcomeData.objects.filter(study=OuterRef("pk")))
    if not review.dual_extraction:
        return PairedWork(to_enter=studies.filter(~has_data).count(), to_agree=0)
    submitted = Q(extractions__submitted_at__isnull=False)
    rows = studies.annotate(entries=Count("extractions", filter=submitted),
                            mine=Count("extractions", filter=submitted & Q(extractions__extractor=extractor)),
                            has_data=has_data).values_list("entries", "mine", "has_data")
    return PairedWork(to_enter=sum(1 for _, mine, _ in rows if not mine),
                      to_agree=sum(1 for entries, _, agreed in rows if entries >= 2 and not agreed))


def rob_work(*, review: Review, assessor) -> PairedWork:
    """Risk-of-bias items left to assess (no submitted assessment by this assessor) and items with two
    or more submitted assessments and no consensus yet, under the review's tool: per included study
    (RoB 1) or per study and outcome with data (RoB 2)."""
    if review.rob_tool == RiskOfBiasTool.ROB2:
        items = set(OutcomeData.objects.filter(study__review=review, study__is_included=True)
                    .values_list("study_id", "outcome_id").distinct())
        rows = Rob2Assessment.objects.filter(study__review=review).values_list(
            "study_id", "outcome_id", "assessor_id", "is_consensus", "submitted_at")
        keyed = [((s, o), a, c, t) for s, o, a, c, t in rows]
    else:
        items = {(pk,) for pk in Study.objects.filter(review=review, is_included=True).values_list("pk", flat=True)}
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
