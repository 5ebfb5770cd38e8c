"""Step 1 of the living analysis: load a review's inputs (outcome data, arms, subgroup values, risk of
bias) in a constant number of queries, as plain frozen dataclasses the engine can take."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from django.db import connection, transaction

from analysis.engine.arms import combine_continuous_groups, combine_dichotomous_groups
from analysis.engine.grade import GradeSettings
from analysis.models import SummaryOfFindingsOutcome
from studies import rob1, rob2
from studies.models import (
    HAS_CONFIRMED_ESTIMATE,
    HAS_CONFIRMED_NUMBERS,
    ArmRole,
    CharacteristicField,
    DataType,
    Outcome,
    OutcomeData,
    Provenance,
    Review,
    RiskOfBiasJudgment,
    RiskOfBiasTool,
    Rob2DomainJudgment,
    Study,
    StudyCharacteristic,
    StudyEstimate,
    TimePoint,
)


NOT_REPORTED = "Not reported"


# --- Inputs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmSummary:
    """One arm's data for one outcome (several arms of one role are combined first)."""

    n: float | None = None
    mean: float | None = None
    sd: float | None = None
    events: float | None = None
    total: float | None = None


@dataclass(frozen=True)
class StudyRow:
    """One study's two arms for one outcome, as the engine needs them."""

    study_id: int
    label: str
    year: int | None
    intervention: ArmSummary
    control: ArmSummary
    imputed: bool = False  # some of its numbers rest on an assumed value (provenance "imputed")
    # Generic inverse variance: the study's effect (analysis scale, the log for ratios) and its SE;
    # the arms then hold only the group sizes, when entered.
    effect: float | None = None
    se: float | None = None


@dataclass(frozen=True)
class OutcomeInputs:
    outcome: Outcome
    rows: tuple[StudyRow, ...]
    incomplete: tuple[str, ...]  # studies with data for only one arm: not analysable


@dataclass(frozen=True)
class RiskOfBiasInputs:
    """The consensus risk-of-bias judgments of the review's tool.

    RoB 2 judges results, so keys are (study id, outcome id); RoB 1 judges studies, keys are
    (study id, None). ``domains`` holds each key's domain judgments in the order of ``domain_labels``;
    ``overall`` the judgment the sensitivity analyses use (RoB 1: from the review's key domains).
    """

    tool: str = RiskOfBiasTool.ROB1
    domain_labels: tuple[tuple[str, str], ...] = ()  # (short label for a column, full name)
    domains: dict[tuple[int, int | None], tuple[str, ...]] = field(default_factory=dict)
    overall: dict[tuple[int, int | None], str] = field(default_factory=dict)

    def key(self, study_id: int, outcome_id: int) -> tuple[int, int | None]:
        return (study_id, outcome_id) if self.tool == RiskOfBiasTool.ROB2 else (study_id, None)


@dataclass(frozen=True)
class ReviewInputs:
    """Everything the analyses of a review read, from one consistent snapshot of the database."""

    review: Review
    data_version: int
    time_point: TimePoint | None
    outcomes: tuple[OutcomeInputs, ...]
    subgroup_fields: tuple[CharacteristicField, ...]
    subgroup_values: dict[tuple[int, int], str]  # (field id, study id) → value
    risk_of_bias: RiskOfBiasInputs = field(default_factory=RiskOfBiasInputs)
    # What people give the GRADE rules per outcome (thresholds, control risk; issue 24), by outcome id.
    grade_settings: dict[int, GradeSettings] = field(default_factory=dict)


def risk_of_bias_load(review: Review) -> RiskOfBiasInputs:
    """Consensus judgments of the review's tool for its included studies (one query)."""
    if review.rob_tool == RiskOfBiasTool.ROB2:
        keys = [d.key for d in rob2.DOMAINS]
        per_result: dict[tuple[int, int], dict[str, str]] = defaultdict(dict)
        overall: dict[tuple[int, int | None], str] = {}
        # One query for both tools (the overall judgment rides along with each domain row), so the
        # load costs the same whichever tool a review uses.
        for study_id, outcome_id, domain, proposed, override, overall_proposed, overall_override in (
            Rob2DomainJudgment.objects.filter(assessment__is_consensus=True, assessment__study__review=review,
                                              assessment__study__is_included=True)
            .values_list("assessment__study_id", "assessment__outcome_id", "domain", "proposed", "override",
                         "assessment__overall_proposed", "assessment__overall_override")
        ):
            per_result[(study_id, outcome_id)][domain] = override or proposed
            if overall_override or overall_proposed:
                overall[(study_id, outcome_id)] = overall_override or overall_proposed
        return RiskOfBiasInputs(
            RiskOfBiasTool.ROB2, tuple((f"D{d.number}", d.short) for d in rob2.DOMAINS),
            {key: tuple(values.get(k, "") for k in keys) for key, values in per_result.items()}, overall)
    per_study: dict[int, dict[str, str]] = defaultdict(dict)
    for study_id, domain, judgment in (
        RiskOfBiasJudgment.objects.filter(assessment__is_consensus=True, assessment__study__review=review,
                                          assessment__study__is_included=True)
        .values_list("assessment__study_id", "domain", "judgment")
    ):
        per_study[study_id][domain] = judgment
    overall = {}
    for study_id, values in per_study.items():
        summary = rob1.summary_judgment(values, review.rob1_key_domains)
        if summary is not None:
            overall[(study_id, None)] = summary
    return RiskOfBiasInputs(
        RiskOfBiasTool.ROB1, tuple((letter, name) for _, letter, name in rob1.DOMAINS),
        {(study_id, None): tuple(values.get(key, "") for key, _, _ in rob1.DOMAINS)
         for study_id, values in per_study.items()}, overall)


def combine_continuous(arms: list[ArmSummary]) -> ArmSummary:
    """Combine groups of one role into one (Cochrane Handbook 6.5.2.10, Table 6.5.a)."""
    n, mean, sd = combine_continuous_groups([(a.n, a.mean, a.sd) for a in arms])
    return ArmSummary(n=n, mean=mean, sd=sd)


def combine_dichotomous(arms: list[ArmSummary]) -> ArmSummary:
    """Combine groups of one role by adding events and totals (Cochrane Handbook 23.3.4)."""
    events, total = combine_dichotomous_groups([(a.events, a.total) for a in arms])
    return ArmSummary(events=events, total=total)


def _sof_settings(outcome: Outcome) -> SummaryOfFindingsOutcome | None:
    """An outcome's summary-of-findings settings, loaded with it (select_related), or None."""
    try:
        return outcome.sof_settings
    except SummaryOfFindingsOutcome.DoesNotExist:
        return None


def analysis_inputs_load(review_id: int) -> ReviewInputs:
    """Read a review's analysis inputs in a constant number of queries, from one snapshot.

    Runs in a REPEATABLE READ transaction, so the data version read is exactly the version of the
    data read: a concurrent edit either is wholly in the snapshot or moves the version past it.
    """
    outermost = not connection.in_atomic_block  # inside another transaction (tests), it sets the level
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        review = Review.objects.get(pk=review_id)
        time_point = TimePoint.objects.filter(review=review, is_analysis_default=True).first()
        # With each outcome's summary-of-findings settings (issue 24), in the same query.
        outcomes = list(Outcome.objects.filter(review=review).select_related("domain", "sof_settings")
                        .order_by("domain__order", "domain__name", "order", "name"))
        studies = {s.pk: s for s in Study.objects.filter(review=review, is_included=True)}
        # The confirmed numbers only: an entry held "awaiting check" leaves the last confirmed numbers
        # in the analysis, and a new row held leaves its arm out, until a second person confirms it.
        data_rows = list(
            OutcomeData.objects.filter(study__review=review, study__is_included=True, time_point=time_point,
                                       include_in_analysis=True)
            .filter(HAS_CONFIRMED_NUMBERS)
            .values_list("outcome_id", "study_id", "arm__role", "confirmed_n", "confirmed_mean", "confirmed_sd",
                         "confirmed_events", "confirmed_total", "provenance", "subgroup_id")
            .order_by("outcome_id", "study_id", "arm_id")
        )
        # Generic inverse-variance outcomes: each study's confirmed effect, SE and group sizes (one row per subgroup;
        # an estimate held "awaiting check" keeps its last confirmed numbers, a new one is left out);
        # the query only when the review has such an outcome.
        estimate_rows = list(
            StudyEstimate.objects.filter(study__review=review, study__is_included=True, time_point=time_point,
                                         include_in_analysis=True)
            .filter(HAS_CONFIRMED_ESTIMATE)
            .values_list("outcome_id", "study_id", "confirmed_estimate", "confirmed_se",
                         "confirmed_n_intervention", "confirmed_n_control")
            .order_by("outcome_id", "study_id", "order", "subgroup_id", "pk")
        ) if any(outcome.data_type == DataType.GENERIC for outcome in outcomes) else []
        subgroup_fields = tuple(CharacteristicField.objects.filter(review=review, is_subgroup_variable=True)
                                .order_by("order", "name"))
        subgroup_values = {
            (value.field_id, value.study_id): value.value_text
            for value in StudyCharacteristic.objects.filter(field__in=subgroup_fields, study__in=list(studies))
            .only("field_id", "study_id", "value_text")
        }
        risk_of_bias = risk_of_bias_load(review)
        grade_settings = {
            outcome.pk: GradeSettings(threshold=row.decision_threshold, control_risk=row.control_risk,
                                      familiar_scale=row.familiar_scale, familiar_sd=row.familiar_sd)
            for outcome in outcomes if (row := _sof_settings(outcome)) is not None
        }

    grouped: dict[tuple[int, int, int | None], dict[str, list[ArmSummary]]] = defaultdict(lambda: defaultdict(list))
    # A study's rows in an outcome's own subgroups (RevMan's per-analysis subgroups, e.g. each dose
    # arm against the shared control) are separate comparisons: never combined across subgroups.
    subgroups_of: dict[tuple[int, int], list[int]] = defaultdict(list)
    imputed: set[tuple[int, int]] = set()
    for outcome_id, study_id, role, n, mean, sd, events, total, provenance, subgroup_id in data_rows:
        grouped[(outcome_id, study_id, subgroup_id)][role].append(
            ArmSummary(n=n, mean=mean, sd=sd, events=events, total=total))
        if subgroup_id not in subgroups_of[(outcome_id, study_id)]:
            subgroups_of[(outcome_id, study_id)].append(subgroup_id)
        if provenance == Provenance.IMPUTED:
            imputed.add((outcome_id, study_id))
    estimates: dict[tuple[int, int], list[tuple]] = defaultdict(list)
    for outcome_id, study_id, estimate, se, n_intervention, n_control in estimate_rows:
        estimates[(outcome_id, study_id)].append((estimate, se, n_intervention, n_control))
    ordered_studies = sorted(studies.values(), key=lambda s: ((s.year or 0), s.label))
    outcome_inputs = []
    for outcome in outcomes:
        if outcome.data_type == DataType.GENERIC:
            rows = [StudyRow(study.pk, study.label, study.year, ArmSummary(n=n_intervention), ArmSummary(n=n_control),
                             effect=estimate, se=se)
                    for study in ordered_studies
                    for estimate, se, n_intervention, n_control in estimates.get((outcome.pk, study.pk), ())]
            outcome_inputs.append(OutcomeInputs(outcome, tuple(rows), ()))
            continue
        combine = combine_continuous if outcome.data_type == DataType.CONTINUOUS else combine_dichotomous
        rows, incomplete = [], []
        for study in ordered_studies:
            for subgroup_id in subgroups_of.get((outcome.pk, study.pk), ()):
                arms = grouped[(outcome.pk, study.pk, subgroup_id)]
                if not arms.get(ArmRole.INTERVENTION) or not arms.get(ArmRole.CONTROL):
                    incomplete.append(study.label)
                    continue
                intervention, control = combine(arms[ArmRole.INTERVENTION]), combine(arms[ArmRole.CONTROL])
                if outcome.swap_events and outcome.data_type == DataType.DICHOTOMOUS:
                    # RevMan's "swap event and non-event": the outcome analyses the non-events.
                    intervention = ArmSummary(events=intervention.total - intervention.events, total=intervention.total)
                    control = ArmSummary(events=control.total - control.events, total=control.total)
                rows.append(StudyRow(study.pk, study.label, study.year, intervention, control,
                                     (outcome.pk, study.pk) in imputed))
        outcome_inputs.append(OutcomeInputs(outcome, tuple(rows), tuple(incomplete)))
    return ReviewInputs(review, review.data_version, time_point, tuple(outcome_inputs), subgroup_fields,
                        subgroup_values, risk_of_bias, grade_settings)
