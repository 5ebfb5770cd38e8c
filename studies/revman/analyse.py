"""Run the engine on one outcome with its own analysis settings (as RevMan keeps them per analysis).

Used by the parity report (ours beside RevMan's stored results) and the .rm5 export (which stores
our results where RevMan stores its own). The engine is the pure ``analysis.engine`` (the one part of
analysis the review database may use, .importlinter).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from analysis.engine.batch import analyse
from analysis.engine.effect_sizes import (
    ContinuousArms,
    DichotomousArms,
    GenericEstimates,
)
from analysis.engine.options import AnalysisOptions, Measure, ModelRule
from analysis.engine.results import AnalysisResult
from studies.models import (
    ArmRole,
    DataType,
    Outcome,
    OutcomeData,
    Review,
    StudyEstimate,
)


def outcome_options(review: Review, outcome: Outcome) -> AnalysisOptions:
    """The engine options of one outcome: its own settings where it has them, else the review's
    (and RevMan's default method for the measure: Mantel–Haenszel for OR, RR and RD)."""
    measure = Measure(outcome.effect_measure)
    method = outcome.pooling_method or ("MH" if measure.is_dichotomous else "IV")
    return AnalysisOptions(
        measure=measure, method=method, tau2_method=review.tau2_estimator,
        model_rule=outcome.model_rule or review.model_rule, i2_threshold=review.i2_threshold,
        hksj=review.hartung_knapp, level=outcome.confidence_level or review.confidence_level,
    )


@dataclass(frozen=True)
class OutcomeRow:
    """One analysed row: its key (the intervention arm's data row, or the study estimate), study,
    subgroup, and the numbers as analysed."""

    key: int
    study_label: str
    study_year: int | None
    subgroup_id: int | None
    values: dict[str, float]


@dataclass(frozen=True)
class OutcomeAnalysis:
    """An outcome's rows and the engine's result over them."""

    outcome: Outcome
    options: AnalysisOptions
    rows: tuple[OutcomeRow, ...]
    subgroup_ids: tuple[int, ...]  # engine subgroup index → OutcomeSubgroup id
    result: AnalysisResult | None  # None when the outcome has no rows


def outcome_rows(outcome: Outcome) -> list[OutcomeRow]:
    """The rows an outcome analyses (included studies, the default time point), intervention arm
    paired with control arm within each study and subgroup by arm label order ("Experimental (2)"
    with "Control (2)")."""
    if outcome.data_type == DataType.GENERIC:
        estimates = (StudyEstimate.objects.filter(outcome=outcome, include_in_analysis=True, study__is_included=True,
                                                  time_point__is_analysis_default=True)
                     .select_related("study").order_by("order", "study__label", "pk"))
        return [OutcomeRow(key=e.pk, study_label=e.study.label, study_year=e.study.year, subgroup_id=e.subgroup_id,
                           values={"effect": e.estimate, "se": e.se, "total_1": e.n_intervention or 0,
                                   "total_2": e.n_control or 0}) for e in estimates]
    data = (OutcomeData.objects.filter(outcome=outcome, include_in_analysis=True, study__is_included=True,
                                       time_point__is_analysis_default=True)
            .select_related("study", "arm").order_by("study__label", "study_id", "arm__label", "pk"))
    arms: dict[tuple[int, int | None], dict[str, list[OutcomeData]]] = defaultdict(lambda: defaultdict(list))
    for item in data:
        arms[(item.study_id, item.subgroup_id)][item.arm.role].append(item)
    rows = []
    for groups in arms.values():
        for first, second in zip(groups[ArmRole.INTERVENTION], groups[ArmRole.CONTROL], strict=False):
            if outcome.data_type == DataType.DICHOTOMOUS:
                events_1, events_2 = first.events, second.events
                if outcome.swap_events:
                    # RevMan's "swap event and non-event": the analysis counts the non-events.
                    events_1, events_2 = first.total - events_1, second.total - events_2
                values = {"events_1": events_1, "total_1": first.total, "events_2": events_2,
                          "total_2": second.total}
            else:
                values = {"mean_1": first.mean, "sd_1": first.sd, "total_1": first.n,
                          "mean_2": second.mean, "sd_2": second.sd, "total_2": second.n}
            rows.append(OutcomeRow(key=first.pk, study_label=first.study.label, study_year=first.study.year,
                                   subgroup_id=first.subgroup_id, values=values))
    return rows


def outcome_analyse(review: Review, outcome: Outcome, rows: list[OutcomeRow] | None = None) -> OutcomeAnalysis:
    """Analyse one outcome with its own settings, split by its own subgroups when it has them
    (``rows``: only these of its rows, e.g. one subgroup's)."""
    options = outcome_options(review, outcome)
    rows = outcome_rows(outcome) if rows is None else rows
    subgroup_ids = tuple(outcome.subgroups.order_by("order", "name").values_list("pk", flat=True))
    if not rows:
        return OutcomeAnalysis(outcome, options, (), subgroup_ids, None)
    column = {name: [row.values[name] for row in rows] for name in rows[0].values}
    if outcome.data_type == DataType.GENERIC:
        data = GenericEstimates(effect=column["effect"], se=column["se"])
    elif outcome.data_type == DataType.DICHOTOMOUS:
        data = DichotomousArms(column["events_1"], column["total_1"], column["events_2"], column["total_2"])
    else:
        data = ContinuousArms(n1=column["total_1"], mean1=column["mean_1"], sd1=column["sd_1"],
                              n2=column["total_2"], mean2=column["mean_2"], sd2=column["sd_2"])
    subgroup = None
    if subgroup_ids and all(row.subgroup_id is not None for row in rows):
        index = {pk: i for i, pk in enumerate(subgroup_ids)}
        subgroup = [index[row.subgroup_id] for row in rows]
    result = analyse(data, options=options, subgroup=subgroup, direction=outcome.direction)
    return OutcomeAnalysis(outcome, options, tuple(rows), subgroup_ids, result)


def reported_model_is_random(analysis: OutcomeAnalysis) -> bool:
    """Whether the outcome reports the random-effects model (its rule, or the automatic choice)."""
    if analysis.options.model_rule is ModelRule.RANDOM:
        return True
    if analysis.options.model_rule is ModelRule.FIXED or analysis.result is None:
        return False
    return analysis.result.chosen_model.value == "random"
