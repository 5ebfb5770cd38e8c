"""The living analysis: load a review's inputs, run the engine over every analysis, store the
results only if they still describe the current data (compare-and-set), and record conclusion
changes. Celery tasks (``analysis.tasks``) only call :func:`review_recompute`.

DESIGN.md, "Living analysis": the database is the ledger, the broker only a doorbell.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
import logging
import math
import time

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
import numpy as np

from analysis.engine import (
    AnalysisOptions,
    ContinuousArms,
    DichotomousArms,
    Direction,
    Measure,
    analyse_batch,
    batch_to_dicts,
)
from analysis.models import (
    AnalysisRun,
    AnalysisSet,
    ChangeKind,
    ConclusionChange,
    OutcomeResult,
    ReviewAnalysisState,
    RunStatus,
)
from studies.models import (
    ArmRole,
    CharacteristicField,
    DataType,
    Outcome,
    OutcomeData,
    Provenance,
    Review,
    ReviewMembership,
    RiskOfBiasJudgment,
    RiskOfBiasTool,
    Rob2DomainJudgment,
    Role,
    Study,
    StudyCharacteristic,
    TimePoint,
)
from studies import rob1, rob2

logger = logging.getLogger(__name__)

# A recompute that keeps finding newer data gives up after this many rounds; the reconciler
# (Celery beat) picks the review up again, so nothing is lost, and a worker is never held forever.
MAX_ROUNDS = 20
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
    n, mean, sd = arms[0].n, arms[0].mean, arms[0].sd
    for arm in arms[1:]:
        total = n + arm.n
        combined_mean = (n * mean + arm.n * arm.mean) / total
        sd = math.sqrt(((n - 1) * sd**2 + (arm.n - 1) * arm.sd**2 + n * arm.n / total * (mean - arm.mean) ** 2)
                       / (total - 1))
        n, mean = total, combined_mean
    return ArmSummary(n=n, mean=mean, sd=sd)


def combine_dichotomous(arms: list[ArmSummary]) -> ArmSummary:
    """Combine groups of one role by adding events and totals (Cochrane Handbook 23.3.4)."""
    return ArmSummary(events=sum(a.events for a in arms), total=sum(a.total for a in arms))


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
        outcomes = list(Outcome.objects.filter(review=review).select_related("domain")
                        .order_by("domain__order", "domain__name", "order", "name"))
        studies = {s.pk: s for s in Study.objects.filter(review=review, is_included=True)}
        data_rows = list(
            OutcomeData.objects.filter(study__review=review, study__is_included=True, time_point=time_point,
                                       include_in_analysis=True)
            .values_list("outcome_id", "study_id", "arm__role", "n", "mean", "sd", "events", "total", "provenance")
            .order_by("outcome_id", "study_id", "arm_id")
        )
        subgroup_fields = tuple(CharacteristicField.objects.filter(review=review, is_subgroup_variable=True)
                                .order_by("order", "name"))
        subgroup_values = {
            (value.field_id, value.study_id): value.value_text
            for value in StudyCharacteristic.objects.filter(field__in=subgroup_fields, study__in=list(studies))
            .only("field_id", "study_id", "value_text")
        }
        risk_of_bias = risk_of_bias_load(review)

    grouped: dict[tuple[int, int], dict[str, list[ArmSummary]]] = defaultdict(lambda: defaultdict(list))
    imputed: set[tuple[int, int]] = set()
    for outcome_id, study_id, role, n, mean, sd, events, total, provenance in data_rows:
        grouped[(outcome_id, study_id)][role].append(ArmSummary(n=n, mean=mean, sd=sd, events=events, total=total))
        if provenance == Provenance.IMPUTED:
            imputed.add((outcome_id, study_id))
    ordered_studies = sorted(studies.values(), key=lambda s: ((s.year or 0), s.label))
    outcome_inputs = []
    for outcome in outcomes:
        combine = combine_continuous if outcome.data_type == DataType.CONTINUOUS else combine_dichotomous
        rows, incomplete = [], []
        for study in ordered_studies:
            arms = grouped.get((outcome.pk, study.pk))
            if not arms:
                continue
            if not arms.get(ArmRole.INTERVENTION) or not arms.get(ArmRole.CONTROL):
                incomplete.append(study.label)
                continue
            rows.append(StudyRow(study.pk, study.label, study.year,
                                 combine(arms[ArmRole.INTERVENTION]), combine(arms[ArmRole.CONTROL]),
                                 (outcome.pk, study.pk) in imputed))
        outcome_inputs.append(OutcomeInputs(outcome, tuple(rows), tuple(incomplete)))
    return ReviewInputs(review, review.data_version, time_point, tuple(outcome_inputs), subgroup_fields,
                        subgroup_values, risk_of_bias)


# --- Computation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComputedResult:
    outcome_id: int
    subgroup_field_id: int | None
    analysis_set: str
    payload: dict


def analysis_options(review: Review, measure: str) -> AnalysisOptions:
    """The engine options for one measure under a review's settings (RevMan defaults: MH for
    dichotomous measures, inverse variance for continuous ones)."""
    measure = Measure(measure)
    return AnalysisOptions(
        measure=measure,
        method="MH" if measure.is_dichotomous else "IV",
        tau2_method=review.tau2_estimator,
        model_rule=review.model_rule,
        i2_threshold=review.i2_threshold,
        hksj=review.hartung_knapp,
        level=review.confidence_level,
    )


def _arm_arrays(rows: list[StudyRow], measure: Measure):
    if measure.is_dichotomous:
        return DichotomousArms(
            events1=[r.intervention.events for r in rows], total1=[r.intervention.total for r in rows],
            events2=[r.control.events for r in rows], total2=[r.control.total for r in rows],
        )
    return ContinuousArms(
        n1=[r.intervention.n for r in rows], mean1=[r.intervention.mean for r in rows],
        sd1=[r.intervention.sd for r in rows], n2=[r.control.n for r in rows],
        mean2=[r.control.mean for r in rows], sd2=[r.control.sd for r in rows],
    )


def _arm_payload(row: StudyRow, measure: Measure) -> dict:
    keys = ("events", "total") if measure.is_dichotomous else ("n", "mean", "sd")
    return {
        "study": row.label, "year": row.year,
        "intervention": {key: getattr(row.intervention, key) for key in keys},
        "control": {key: getattr(row.control, key) for key in keys},
    }


def review_results_compute(inputs: ReviewInputs) -> list[ComputedResult]:
    """Run the engine over every outcome (overall and per subgroup variable), one vectorised
    batch call per effect measure and subgroup variable."""
    by_measure: dict[str, list[OutcomeInputs]] = defaultdict(list)
    for item in inputs.outcomes:
        if item.rows:
            by_measure[item.outcome.effect_measure].append(item)
    results: list[ComputedResult] = []
    for measure_name, items in by_measure.items():
        options = analysis_options(inputs.review, measure_name)
        rows = [row for item in items for row in item.rows]
        analysis_ids = np.repeat(np.arange(len(items)), [len(item.rows) for item in items])
        labels = [row.label for row in rows]
        data = _arm_arrays(rows, options.measure)
        directions = [Direction(item.outcome.direction) for item in items]
        years = np.array([row.year or 0 for row in rows], dtype=float)
        splits: list[CharacteristicField | None] = [None, *inputs.subgroup_fields]
        for split_field in splits:
            subgroup_keys, subgroup_labels = None, None
            if split_field is not None:
                subgroup_labels = [*split_field.choices, NOT_REPORTED]
                index = {value: i for i, value in enumerate(subgroup_labels)}
                subgroup_keys = [index.get(inputs.subgroup_values.get((split_field.pk, row.study_id)),
                                           len(subgroup_labels) - 1) for row in rows]
            # Cumulative analysis, leave-one-out, Egger and the funnel belong to the overall analysis;
            # a subgroup split would only repeat them.
            batch = analyse_batch(data, analysis_ids, options=options, n_analyses=len(items),
                                  subgroup=subgroup_keys, order=years if split_field is None else None,
                                  directions=directions)
            for item, payload in zip(items, batch_to_dicts(batch, labels, subgroup_labels), strict=True):
                if split_field is not None:
                    for key in ("leave_one_out", "cumulative", "egger", "funnel"):
                        payload.pop(key)
                payload["outcome"] = item.outcome.name
                payload["arms"] = [_arm_payload(row, options.measure) for row in item.rows]
                payload["incomplete"] = list(item.incomplete)
                if split_field is None:
                    rob_column = _risk_of_bias_payload(inputs.risk_of_bias, item)
                    if rob_column is not None:
                        payload["risk_of_bias"] = rob_column
                results.append(ComputedResult(item.outcome.pk, split_field.pk if split_field else None, AnalysisSet.MAIN,
                                              payload))
        results += _risk_of_bias_sets_compute(inputs.risk_of_bias, items, options)
        results += _imputation_set_compute(items, options)
    return results


# The risk-of-bias sensitivity analyses, and the consensus overall judgments each keeps. A study
# without a consensus judgment is left out of both: it is not known to be at low (or not high) risk.
ROB_SETS: tuple[tuple[str, frozenset[str]], ...] = (
    (AnalysisSet.ROB_LOW, frozenset({rob2.LOW})),
    (AnalysisSet.ROB_EXCLUDE_HIGH, frozenset({rob2.LOW, rob2.SOME_CONCERNS, rob1.UNCLEAR})),
)
NOT_ASSESSED = "not_assessed"


def _risk_of_bias_payload(rob: RiskOfBiasInputs, item: OutcomeInputs) -> dict | None:
    """The consensus judgments of an outcome's studies, for the forest plot's risk-of-bias column."""
    studies = {}
    for row in item.rows:
        key = rob.key(row.study_id, item.outcome.pk)
        if key in rob.domains or key in rob.overall:
            studies[row.label] = {"domains": list(rob.domains.get(key, ())), "overall": rob.overall.get(key)}
    if not studies:
        return None
    return {"tool": rob.tool, "domains": [list(label) for label in rob.domain_labels], "studies": studies}


def _risk_of_bias_sets_compute(rob: RiskOfBiasInputs, items: list[OutcomeInputs], options: AnalysisOptions
                               ) -> list[ComputedResult]:
    """Pool each outcome again over the studies each risk-of-bias set keeps (one batch call per set);
    an outcome none of whose studies the set keeps gets no result for that set."""
    results: list[ComputedResult] = []
    if not rob.overall:
        return results
    for set_name, kept_judgments in ROB_SETS:
        chosen: list[tuple[OutcomeInputs, list[StudyRow], dict[str, str]]] = []
        for item in items:
            kept, left_out = [], {}
            for row in item.rows:
                judgment = rob.overall.get(rob.key(row.study_id, item.outcome.pk))
                if judgment in kept_judgments:
                    kept.append(row)
                else:
                    left_out[row.label] = judgment or NOT_ASSESSED
            if kept:
                chosen.append((item, kept, left_out))
        if not chosen:
            continue
        rows = [row for _, kept, _ in chosen for row in kept]
        analysis_ids = np.repeat(np.arange(len(chosen)), [len(kept) for _, kept, _ in chosen])
        batch = analyse_batch(_arm_arrays(rows, options.measure), analysis_ids, options=options,
                              n_analyses=len(chosen), directions=[Direction(i.outcome.direction) for i, _, _ in chosen])
        for (item, kept, left_out), payload in zip(chosen, batch_to_dicts(batch, [r.label for r in rows], None),
                                                   strict=True):
            for key in ("leave_one_out", "cumulative", "egger", "funnel"):
                payload.pop(key, None)
            payload["outcome"] = item.outcome.name
            payload["arms"] = [_arm_payload(row, options.measure) for row in kept]
            payload["incomplete"] = list(item.incomplete)
            payload["risk_of_bias_set"] = {"set": set_name, "tool": rob.tool, "left_out": left_out}
            results.append(ComputedResult(item.outcome.pk, None, set_name, payload))
    return results


def _imputation_set_compute(items: list[OutcomeInputs], options: AnalysisOptions) -> list[ComputedResult]:
    """The sensitivity analysis for imputation: each outcome that has imputed values pooled again
    without the studies whose data for it include one (one batch call). An outcome without imputed
    values needs no second analysis (it would equal the main one), and one all of whose studies have
    imputed values gets none (there is nothing left to pool)."""
    chosen = []
    for item in items:
        left_out = [row.label for row in item.rows if row.imputed]
        kept = [row for row in item.rows if not row.imputed]
        if left_out and kept:
            chosen.append((item, kept, left_out))
    if not chosen:
        return []
    rows = [row for _, kept, _ in chosen for row in kept]
    analysis_ids = np.repeat(np.arange(len(chosen)), [len(kept) for _, kept, _ in chosen])
    batch = analyse_batch(_arm_arrays(rows, options.measure), analysis_ids, options=options, n_analyses=len(chosen),
                          directions=[Direction(i.outcome.direction) for i, _, _ in chosen])
    results = []
    for (item, kept, left_out), payload in zip(chosen, batch_to_dicts(batch, [r.label for r in rows], None),
                                               strict=True):
        for key in ("leave_one_out", "cumulative", "egger", "funnel"):
            payload.pop(key, None)
        payload["outcome"] = item.outcome.name
        payload["arms"] = [_arm_payload(row, options.measure) for row in kept]
        payload["incomplete"] = list(item.incomplete)
        payload["imputation_set"] = {"left_out": left_out}
        results.append(ComputedResult(item.outcome.pk, None, AnalysisSet.NO_IMPUTED, payload))
    return results


def _headline(payload: dict) -> dict:
    chosen = payload[payload["chosen_model"]]
    heterogeneity = payload["heterogeneity"]
    return {
        "k": chosen["k"], "chosen_model": payload["chosen_model"], "estimate": chosen["estimate"],
        "ci_low": chosen["ci_low"], "ci_high": chosen["ci_high"], "p_value": chosen["p"],
        "i2": heterogeneity["i2"], "tau2": heterogeneity["tau2"],
    }


# --- Storing (compare-and-set) and conclusion changes -----------------------------------------


# I² bands: the Cochrane Handbook's guide (10.10.2) overlaps (0–40, 30–60, 50–90, 75–100); a
# change of band needs one cut-off per boundary, so we use the overlaps' midpoints.
I2_BANDS = ((35.0, "might not be important"), (55.0, "moderate"), (82.5, "substantial"),
            (math.inf, "considerable"))


def i2_band(i2: float | None) -> str | None:
    if i2 is None or not math.isfinite(i2):
        return None
    return next(label for upper, label in I2_BANDS if i2 < upper)


def conclusion_changes_detect(previous: OutcomeResult | None, current: OutcomeResult, alpha: float
                              ) -> list[tuple[str, str]]:
    """Changes between two runs' overall results of one outcome that matter to a reader."""
    if current.estimate is None:
        return []
    if previous is None or previous.estimate is None:
        return [(ChangeKind.FIRST_RESULT, f"First pooled result from {current.k} stud{'y' if current.k == 1 else 'ies'}.")]
    changes = []
    was, now = previous.p_value is not None and previous.p_value < alpha, current.p_value is not None and current.p_value < alpha
    if now and not was:
        changes.append((ChangeKind.BECAME_SIGNIFICANT, f"P went from {previous.p_value:.3g} to {current.p_value:.3g}."))
    if was and not now:
        changes.append((ChangeKind.LOST_SIGNIFICANCE, f"P went from {previous.p_value:.3g} to {current.p_value:.3g}."))
    if previous.estimate * current.estimate < 0:
        changes.append((ChangeKind.DIRECTION_CHANGED,
                        f"The pooled effect went from {previous.estimate:.2f} to {current.estimate:.2f}."))
    if previous.chosen_model != current.chosen_model:
        changes.append((ChangeKind.MODEL_SWITCHED,
                        f"The {current.chosen_model}-effect model is now reported (I² = {current.i2:.0f}%)."))
    before, after = i2_band(previous.i2), i2_band(current.i2)
    if before and after and before != after:
        changes.append((ChangeKind.HETEROGENEITY_BAND,
                        f"Heterogeneity went from {before} (I² = {previous.i2:.0f}%) to {after} (I² = {current.i2:.0f}%)."))
    return changes


def _store(review_id: int, data_version: int, time_point_id: int | None, started_at,
           computed: list[ComputedResult]) -> AnalysisRun | None:
    """Write a run's results if ``data_version`` is still current; returns the run, or None when
    the data moved on (or the same version was already stored by another delivery)."""
    with transaction.atomic():
        # The row lock orders this write against edits, which bump the version on the same row.
        current_version = Review.objects.select_for_update().values_list("data_version", flat=True).get(pk=review_id)
        state, _ = ReviewAnalysisState.objects.select_for_update().get_or_create(review_id=review_id)
        if current_version != data_version or state.computed_version >= data_version:
            AnalysisRun.objects.create(review_id=review_id, data_version=data_version, status=RunStatus.SUPERSEDED,
                                       started_at=started_at, finished_at=timezone.now())
            return None
        now = timezone.now()
        run = AnalysisRun.objects.create(review_id=review_id, data_version=data_version,
                                         status=RunStatus.SUCCEEDED, started_at=started_at, finished_at=now)
        stored = OutcomeResult.objects.bulk_create([
            OutcomeResult(run=run, outcome_id=c.outcome_id, time_point_id=time_point_id,
                          subgroup_field_id=c.subgroup_field_id, analysis_set=c.analysis_set,
                          payload_gz=OutcomeResult.pack(c.payload),
                          **_headline(c.payload))
            for c in computed
        ])
        previous_run_id = state.current_run_id
        state.computed_version, state.computed_at, state.current_run = data_version, now, run
        state.save()
        _record_conclusion_changes(review_id, run, previous_run_id, stored)
        if previous_run_id is not None:
            # Every run keeps its headline numbers (the history of each estimate); the full engine
            # output, megabytes for a large review, is kept for the current run only.
            OutcomeResult.objects.filter(run_id=previous_run_id).update(payload_gz=None)
    return run


def _record_conclusion_changes(review_id: int, run: AnalysisRun, previous_run_id: int | None,
                               stored: list[OutcomeResult]) -> None:
    if previous_run_id is None:
        return  # the first run of a review is the baseline, not news
    review = Review.objects.get(pk=review_id)
    alpha = 1 - review.confidence_level
    previous = {r.outcome_id: r for r in OutcomeResult.objects.filter(
        run_id=previous_run_id, subgroup_field__isnull=True, analysis_set=AnalysisSet.MAIN)}
    changes = []
    for result in stored:
        if result.subgroup_field_id is not None or result.analysis_set != AnalysisSet.MAIN:
            continue
        for kind, description in conclusion_changes_detect(previous.get(result.outcome_id), result, alpha):
            changes.append(ConclusionChange(review_id=review_id, outcome_id=result.outcome_id, run=run,
                                            previous_run_id=previous_run_id, kind=kind, description=description))
    if changes:
        ConclusionChange.objects.bulk_create(changes)
        transaction.on_commit(lambda: _notify_managers(review, changes))


def _notify_managers(review: Review, changes: list[ConclusionChange]) -> None:
    recipients = list(ReviewMembership.objects.filter(review=review, role=Role.MANAGER)
                      .exclude(user__email="").values_list("user__email", flat=True))
    if not recipients:
        return
    names = {o.pk: o.name for o in Outcome.objects.filter(pk__in={c.outcome_id for c in changes})}
    lines = [f"- {names[c.outcome_id]}: {ChangeKind(c.kind).label}. {c.description}" for c in changes]
    try:
        send_mail(
            subject=f"[{review.title[:60]}] The evidence changed",
            message="The living analysis was recomputed and these conclusions changed:\n\n" + "\n".join(lines),
            from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=recipients,
        )
    except Exception:  # mail is a courtesy: the change is recorded and shown either way
        logger.exception("Could not e-mail the managers of review %s about conclusion changes", review.pk)


# --- The recompute loop -----------------------------------------------------------------------


def analysis_run_execute(review_id: int) -> AnalysisRun | None:
    """Compute every analysis of a review once and store it if still current."""
    started_at = timezone.now()
    inputs = analysis_inputs_load(review_id)
    try:
        computed = review_results_compute(inputs)
    except Exception as error:
        AnalysisRun.objects.create(review_id=review_id, data_version=inputs.data_version, status=RunStatus.FAILED,
                                   started_at=started_at, finished_at=timezone.now(), error=repr(error))
        raise
    time_point_id = inputs.time_point.pk if inputs.time_point is not None else None
    return _store(review_id, inputs.data_version, time_point_id, started_at, computed)


def review_is_behind(review_id: int) -> bool:
    """True when the review's results are older than its data."""
    state = ReviewAnalysisState.objects.filter(review_id=review_id).values_list("computed_version", flat=True).first()
    version = Review.objects.filter(pk=review_id).values_list("data_version", flat=True).first()
    return version is not None and (state or 0) < version


_LOCK_NAMESPACE = 7_311_001  # first key of PostgreSQL's two-key advisory locks: "recompute"


def _wait_for_quiet(review_id: int, deadline: float) -> None:
    """Wait until ``deadline`` (monotonic), or less: as soon as the review's data have not changed
    for ``ANALYSIS_COALESCE_SECONDS``, so the run after a burst starts when the burst ends."""
    quiet_needed = settings.ANALYSIS_COALESCE_SECONDS
    seen, quiet_since = None, time.monotonic()
    while (now := time.monotonic()) < deadline:
        version = Review.objects.filter(pk=review_id).values_list("data_version", flat=True).first()
        if version != seen:
            seen, quiet_since = version, now
        elif now - quiet_since >= quiet_needed:
            return
        time.sleep(min(0.1, max(0.0, deadline - now)))


def review_recompute(review_id: int) -> int:
    """Bring a review's results up to date; returns how many runs stored results.

    Single flight per review: a PostgreSQL advisory lock (released by the server if the worker
    dies) lets one worker compute while others return at once. The holder loops while the data
    keep moving, so edits made during a run cause exactly one more run; after releasing the lock
    it checks once more, closing the gap in which another worker gave up on the lock. The first
    change after a quiet period is computed at once; while edits keep arriving, rounds start
    ``ANALYSIS_COALESCE_SECONDS`` apart, then twice that, and so on up to
    ``ANALYSIS_COALESCE_MAX_SECONDS`` — but a round starts early once the edits pause for
    ``ANALYSIS_COALESCE_SECONDS``.
    """
    stored = rounds = 0
    last_start = time.monotonic()
    while rounds < MAX_ROUNDS:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, review_id])
            if not cursor.fetchone()[0]:
                return stored
        try:
            while rounds < MAX_ROUNDS and review_is_behind(review_id):
                if rounds:
                    # Data changed during the last run: wait out the rest of the coalescing window,
                    # which doubles while the edits keep coming, so a burst costs a few runs.
                    window = min(settings.ANALYSIS_COALESCE_MAX_SECONDS,
                                 settings.ANALYSIS_COALESCE_SECONDS * 2 ** (rounds - 1))
                    _wait_for_quiet(review_id, last_start + window)
                rounds += 1
                last_start = time.monotonic()
                if analysis_run_execute(review_id) is not None:
                    stored += 1
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, review_id])
        if not review_is_behind(review_id):
            return stored
        rounds += 1
    logger.warning("Review %s kept changing during %d recompute rounds; the reconciler will continue.",
                   review_id, MAX_ROUNDS)
    return stored


def reviews_behind() -> list[int]:
    """Ids of reviews whose results are older than their data (for the reconciler); a review whose
    current data version already failed to compute is left until its data change."""
    failed_now = AnalysisRun.objects.filter(review=OuterRef("pk"), data_version=OuterRef("data_version"),
                                            status=RunStatus.FAILED)
    return list(
        Review.objects.filter(Q(analysis_state__isnull=True) | Q(analysis_state__computed_version__lt=F("data_version")))
        .exclude(Exists(failed_now)).order_by("pk").values_list("pk", flat=True)
    )
