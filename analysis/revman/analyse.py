"""Run the engine on one outcome with its own analysis settings (as RevMan keeps them per analysis),
row by row as RevMan lists them: one row per study and subgroup.

Used by the parity report (ours beside RevMan's stored results) and the .rm5 export (which stores
our results where RevMan stores its own). The options and the combining of several arms of one role
are the living analysis's own (``analysis.services``), so both analyse an outcome the same way.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from analysis.engine import (
    AnalysisOptions,
    AnalysisResult,
    ContinuousArms,
    DichotomousArms,
    GenericEstimates,
    ModelRule,
    analyse,
)
from analysis.services.compute import analysis_options
from analysis.services.inputs import ArmSummary, combine_continuous, combine_dichotomous
from studies.models import (
    ArmRole,
    DataType,
    Outcome,
    OutcomeData,
    Review,
    StudyEstimate,
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
    """The rows an outcome analyses (included studies, the default time point): one per study and
    subgroup, its intervention arms against its control arms."""
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
    dichotomous = outcome.data_type == DataType.DICHOTOMOUS
    combine = combine_dichotomous if dichotomous else combine_continuous
    rows = []
    for groups in arms.values():
        first, second = groups[ArmRole.INTERVENTION], groups[ArmRole.CONTROL]
        if not first or not second:
            continue  # data for one arm only: not analysable (the living analysis lists it as incomplete)
        # Several arms of one role are combined as the living analysis does (Cochrane Handbook 6.5.2.10).
        one, two = (combine([ArmSummary(n=d.n, mean=d.mean, sd=d.sd, events=d.events, total=d.total)
                             for d in group]) for group in (first, second))
        if dichotomous:
            events_1, events_2 = one.events, two.events
            if outcome.swap_events:
                # RevMan's "swap event and non-event": the analysis counts the non-events.
                events_1, events_2 = one.total - events_1, two.total - events_2
            values = {"events_1": events_1, "total_1": one.total, "events_2": events_2, "total_2": two.total}
        else:
            values = {"mean_1": one.mean, "sd_1": one.sd, "total_1": one.n,
                      "mean_2": two.mean, "sd_2": two.sd, "total_2": two.n}
        rows.append(OutcomeRow(key=first[0].pk, study_label=first[0].study.label, study_year=first[0].study.year,
                               subgroup_id=first[0].subgroup_id, values=values))
    return rows


def outcome_analyse(review: Review, outcome: Outcome, rows: list[OutcomeRow] | None = None) -> OutcomeAnalysis:
    """Analyse one outcome with its own settings, split by its own subgroups when it has them
    (``rows``: only these of its rows, e.g. one subgroup's)."""
    options = analysis_options(review, outcome.effect_measure, outcome)
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
