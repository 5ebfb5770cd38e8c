"""Turning analysis results into JSON-ready dicts and RevMan-style text.

The JSON layout is the command line's contract (and a natural API payload): every
number on the analysis scale (log for OR/RR) with exponentiated ``ratio*`` copies for
ratio measures, NaN as ``null``, weights and I² in percent.

:func:`result_to_dict` formats one scalar :class:`~.results.AnalysisResult`;
:func:`batch_to_dicts` formats every analysis of a :class:`~.results.BatchResult` at
once, reading the per-study and sensitivity rows straight from the arrays (no
per-row dataclasses). Both go through the same column builders and payload assembly,
so their output is identical.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .csv_input import DataKind, StudyTable
from .direction import Direction, ForestLabels, forest_labels
from .effect_sizes import StudyStatus
from .formatting import (
    format_effect_ci,
    format_interval,
    format_weight,
    heterogeneity_line,
    overall_effect_line,
    subgroup_test_line,
)
from .options import AnalysisOptions, Model
from .results import (
    AnalysisResult,
    BatchResult,
    EggerTest,
    Estimate,
    FunnelData,
    NestedArrays,
    Pooled,
    RandomEffects,
    SensitivityRow,
    StudyResult,
    SubgroupResult,
    SubgroupTest,
    pooled_view,
    sensitivity_order,
)

# --------------------------------------------------------------------------- numbers


def _num(value: float | None) -> float | None:
    """A JSON number: ``None`` for NaN, ±inf and ``None``."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _nums(values: ArrayLike) -> list[float | None]:
    """Column form of :func:`_num`: a list of floats, ``None`` where not finite."""
    array = np.asarray(values, dtype=np.float64)
    out: list[float | None] = array.tolist()
    for i in np.flatnonzero(~np.isfinite(array)).tolist():
        out[i] = None
    return out


def _exp_nums(values: Iterable[float | None]) -> list[float | None]:
    """Ratio-scale copies of log-scale values: exp of each finite value, else ``None``."""
    return [math.exp(v) if v is not None and math.isfinite(v) else None for v in values]


_RATIO_KEYS = ("ratio", "ratio_ci_low", "ratio_ci_high")


def _ratio_fields(estimate: float, low: float, high: float, is_ratio: bool) -> dict[str, Any]:
    if not is_ratio:
        return {}
    return dict(zip(_RATIO_KEYS, _exp_nums((estimate, low, high)), strict=True))


def _add_ratio_fields(entries: list[dict[str, Any]], estimate: list[float | None],
                      low: list[float | None], high: list[float | None]) -> None:
    """Column form of :func:`_ratio_fields` (for ratio measures), appended in place."""
    for entry, r, r_low, r_high in zip(entries, _exp_nums(estimate), _exp_nums(low),
                                       _exp_nums(high), strict=True):
        entry["ratio"] = r
        entry["ratio_ci_low"] = r_low
        entry["ratio_ci_high"] = r_high


# --------------------------------------------------------------------------- pieces


def estimate_dict(estimate: Estimate, is_ratio: bool) -> dict[str, Any]:
    """``{estimate, se, ci_low, ci_high, z, p, k, test, df, favours}`` (+ ratios, τ², PI)."""
    out: dict[str, Any] = {
        "estimate": _num(estimate.estimate),
        "se": _num(estimate.se),
        "ci_low": _num(estimate.ci_low),
        "ci_high": _num(estimate.ci_high),
        "z": _num(estimate.statistic),
        "p": _num(estimate.p),
        "k": estimate.k,
        "test": estimate.test,
        "df": estimate.df,
        "favours": estimate.favours.value,
    }
    out.update(_ratio_fields(estimate.estimate, estimate.ci_low, estimate.ci_high, is_ratio))
    if isinstance(estimate, RandomEffects):
        out["tau2"] = _num(estimate.tau2)
        out["prediction_low"] = _num(estimate.prediction_low)
        out["prediction_high"] = _num(estimate.prediction_high)
    return out


def heterogeneity_dict(pooled: Pooled) -> dict[str, Any]:
    """``{q, df, p, i2, tau2, tau2_method, tau2_converged, tau2_iterations, applicable}``.

    ``applicable`` is false for a single study (df = 0): Q is 0, P and I² are ``None``.
    """
    h = pooled.heterogeneity
    return {
        "applicable": h.df >= 1 and math.isfinite(h.q),
        "q": _num(h.q),
        "df": h.df,
        "p": _num(h.p),
        "i2": _num(h.i2),
        "tau2": _num(h.tau2),
        "tau2_method": h.tau2_method.value,
        "tau2_converged": h.tau2_converged,
        "tau2_iterations": h.tau2_iterations,
    }


def _subgroup_test_dict(test: SubgroupTest | None) -> dict[str, Any] | None:
    if test is None:
        return None
    return {"q": _num(test.q), "df": test.df, "p": _num(test.p), "i2": _num(test.i2),
            "subgroups": test.subgroups, "applicable": test.applicable}


def _egger_dict(e: EggerTest | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {"intercept": _num(e.intercept), "se": _num(e.se), "t": _num(e.t),
            "df": e.df, "p": _num(e.p), "slope": _num(e.slope)}


def _funnel_dict(f: FunnelData | None) -> dict[str, Any] | None:
    if f is None:
        return None
    low, high = f.limits(f.se_max)
    return {"centre": _num(f.centre), "se_max": _num(f.se_max), "z": f.z,
            "limit_low_at_se_max": _num(low), "limit_high_at_se_max": _num(high)}


def _subgroup_namer(subgroup_labels: Sequence[str] | None) -> Callable[[int | None], str | None]:
    """Name of a subgroup key: its label, or the key itself; ``None`` for no subgroup
    (``None`` in scalar views, −1 in the arrays)."""

    def name(key: int | None) -> str | None:
        if key is None or key < 0:
            return None
        return subgroup_labels[key] if subgroup_labels is not None else str(key)

    return name


_STATUS_NAMES = {int(status): status.name.lower() for status in StudyStatus}
_ESTIMABLE = int(StudyStatus.ESTIMABLE)


def _study_dicts(
    labels: Sequence[str],
    subgroups: Sequence[str | None],
    effect: ArrayLike,
    se: ArrayLike,
    ci_low: ArrayLike,
    ci_high: ArrayLike,
    weight_fixed: ArrayLike,
    weight_random: ArrayLike,
    status: Sequence[int],
    zero_cell_corrected: Sequence[bool],
    is_ratio: bool,
) -> list[dict[str, Any]]:
    """One dict per study row, from columns (study label, subgroup name, numbers, status)."""
    effect, ci_low, ci_high = _nums(effect), _nums(ci_low), _nums(ci_high)
    entries = [
        {
            "study": label,
            "effect": e,
            "se": s,
            "ci_low": low,
            "ci_high": high,
            "weight_fixed": w_fixed,
            "weight_random": w_random,
            "subgroup": subgroup,
            "estimable": code == _ESTIMABLE,
            "status": _STATUS_NAMES[code],
            "zero_cell_corrected": zero_cell,
        }
        for label, e, s, low, high, w_fixed, w_random, subgroup, code, zero_cell in zip(
            labels, effect, _nums(se), ci_low, ci_high, _nums(weight_fixed),
            _nums(weight_random), subgroups, status, zero_cell_corrected, strict=True,
        )
    ]
    if is_ratio:
        _add_ratio_fields(entries, effect, ci_low, ci_high)
    return entries


def _sensitivity_dicts(
    key: str,
    labels: Sequence[str],
    k: Sequence[int],
    estimate: ArrayLike,
    se: ArrayLike,
    ci_low: ArrayLike,
    ci_high: ArrayLike,
    p: ArrayLike,
    q: ArrayLike,
    i2: ArrayLike,
    tau2: ArrayLike,
    is_ratio: bool,
) -> list[dict[str, Any]]:
    """One dict per leave-one-out (``key="omitted"``) or cumulative (``"added"``) row:
    the chosen model's estimate and the set's heterogeneity."""
    estimate, ci_low, ci_high = _nums(estimate), _nums(ci_low), _nums(ci_high)
    entries = [
        {
            key: label,
            "k": size,
            "estimate": value,
            "se": s,
            "ci_low": low,
            "ci_high": high,
            "p": p_value,
            "q": q_value,
            "i2": i2_value,
            "tau2": tau2_value,
        }
        for label, size, value, s, low, high, p_value, q_value, i2_value, tau2_value in zip(
            labels, k, estimate, _nums(se), ci_low, ci_high, _nums(p), _nums(q),
            _nums(i2), _nums(tau2), strict=True,
        )
    ]
    if is_ratio:
        _add_ratio_fields(entries, estimate, ci_low, ci_high)
    return entries


def _payload(
    options: AnalysisOptions,
    chosen_model: Model,
    direction: Direction,
    labels: ForestLabels,
    overall: Pooled,
    studies: list[dict[str, Any]],
    subgroups: Sequence[SubgroupResult],
    subgroup_tests: tuple[SubgroupTest | None, SubgroupTest | None],
    leave_one_out: list[dict[str, Any]],
    cumulative: list[dict[str, Any]] | None,
    egger: EggerTest | None,
    funnel: FunnelData | None,
    warnings: Sequence[str],
    subgroup_name: Callable[[int | None], str | None],
) -> dict[str, Any]:
    """The JSON payload of one analysis, from its already formatted row lists."""
    is_ratio = options.measure.is_ratio
    test_fixed, test_random = subgroup_tests
    return {
        "measure": options.measure.value,
        "method": options.method.value,
        "tau2_method": options.tau2_method.value,
        "hksj": options.hksj,
        "level": options.level,
        "study_level": options.study_level if options.study_level is not None else options.level,
        "model_rule": options.model_rule.value,
        "i2_threshold": options.i2_threshold,
        "chosen_model": chosen_model.value,
        "direction": direction.value,
        "favours": overall.model(chosen_model).favours.value,
        "labels": {"left": labels.left, "right": labels.right},
        "studies": studies,
        "fixed": estimate_dict(overall.fixed, is_ratio),
        "random": estimate_dict(overall.random, is_ratio),
        "heterogeneity": heterogeneity_dict(overall),
        "subgroups": [
            {
                "name": subgroup_name(s.subgroup),
                "fixed": estimate_dict(s.pooled.fixed, is_ratio),
                "random": estimate_dict(s.pooled.random, is_ratio),
                "heterogeneity": heterogeneity_dict(s.pooled),
            }
            for s in subgroups
        ],
        "subgroup_test": (
            None if test_fixed is None else {
                "fixed": _subgroup_test_dict(test_fixed),
                "random": _subgroup_test_dict(test_random),
            }
        ),
        "leave_one_out": leave_one_out,
        "cumulative": cumulative,
        "egger": _egger_dict(egger),
        "funnel": _funnel_dict(funnel),
        "warnings": list(warnings),
    }


# --------------------------------------------------------------------------- one analysis


def _scalar_study_dicts(studies: Sequence[StudyResult], study_labels: Sequence[str],
                        subgroup_name: Callable[[int | None], str | None],
                        is_ratio: bool) -> list[dict[str, Any]]:
    return _study_dicts(
        [study_labels[s.row] for s in studies],
        [subgroup_name(s.subgroup) for s in studies],
        [s.effect for s in studies], [s.se for s in studies],
        [s.ci_low for s in studies], [s.ci_high for s in studies],
        [s.weight_fixed for s in studies], [s.weight_random for s in studies],
        [int(s.status) for s in studies], [s.zero_cell_corrected for s in studies],
        is_ratio,
    )


def _scalar_sensitivity_dicts(rows: Sequence[SensitivityRow], key: str,
                              study_labels: Sequence[str],
                              is_ratio: bool) -> list[dict[str, Any]]:
    return _sensitivity_dicts(
        key,
        [study_labels[r.row] for r in rows],
        [r.pooled.k for r in rows],
        [r.chosen.estimate for r in rows], [r.chosen.se for r in rows],
        [r.chosen.ci_low for r in rows], [r.chosen.ci_high for r in rows],
        [r.chosen.p for r in rows],
        [r.pooled.heterogeneity.q for r in rows], [r.pooled.heterogeneity.i2 for r in rows],
        [r.pooled.heterogeneity.tau2 for r in rows],
        is_ratio,
    )


def result_to_dict(
    result: AnalysisResult,
    study_labels: Sequence[str],
    subgroup_labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """JSON-ready dict of one analysis.

    For every analysis of a batch use :func:`batch_to_dicts`, which gives the same
    dicts without building the scalar views.

    Parameters
    ----------
    result
        The analysis.
    study_labels
        Label per input row (indexed by ``StudyResult.row``).
    subgroup_labels
        Label per subgroup key, when the analysis has subgroups.
    """
    is_ratio = result.options.measure.is_ratio
    name = _subgroup_namer(subgroup_labels)
    return _payload(
        result.options,
        result.chosen_model,
        result.direction,
        result.labels,
        result.overall,
        _scalar_study_dicts(result.studies, study_labels, name, is_ratio),
        result.subgroups,
        (result.subgroup_test_fixed, result.subgroup_test_random),
        _scalar_sensitivity_dicts(result.leave_one_out, "omitted", study_labels, is_ratio),
        (None if result.cumulative is None
         else _scalar_sensitivity_dicts(result.cumulative, "added", study_labels, is_ratio)),
        result.egger,
        result.funnel,
        result.warnings,
        name,
    )


# --------------------------------------------------------------------------- a batch


def _batch_sensitivity_dicts(
    batch: BatchResult, nested: NestedArrays, key: str, study_labels: Sequence[str],
    is_ratio: bool, by_row: bool,
) -> tuple[list[dict[str, Any]], list[int]]:
    """Rows of every analysis in display order, and where each analysis's rows start
    (n_analyses + 1 bounds)."""
    order = sensitivity_order(nested, np.arange(len(nested.row)), by_row=by_row)
    analysis = nested.analysis[order]
    random = batch.chosen_random[analysis]
    chosen_f, chosen_r = nested.pooled.fixed, nested.pooled.random

    def chosen(field: str) -> np.ndarray:
        return np.where(random, getattr(chosen_r, field)[order], getattr(chosen_f, field)[order])

    het = nested.pooled.heterogeneity
    entries = _sensitivity_dicts(
        key,
        [study_labels[row] for row in nested.row[order].tolist()],
        nested.pooled.k[order].tolist(),
        chosen("estimate"), chosen("se"), chosen("ci_low"), chosen("ci_high"), chosen("p"),
        het.q[order], het.i2[order], het.tau2[order],
        is_ratio,
    )
    bounds = np.searchsorted(analysis, np.arange(batch.n_analyses + 1)).tolist()
    return entries, bounds


def batch_to_dicts(
    batch: BatchResult,
    study_labels: Sequence[str],
    subgroup_labels: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """JSON-ready dicts of every analysis of a batch, in analysis id order.

    Entry ``i`` equals ``result_to_dict(batch.analysis(i), study_labels,
    subgroup_labels)``, but the study, leave-one-out and cumulative rows are formatted
    column-wise from the batch's arrays for all analyses at once, without building a
    dataclass per row (the scalar views dominate the cost for large reviews).

    Parameters
    ----------
    batch
        The result of :func:`~.batch.analyse_batch`.
    study_labels
        Label per input row of the batch call.
    subgroup_labels
        Label per subgroup key, when the batch has subgroups.
    """
    options = batch.options
    is_ratio = options.measure.is_ratio
    name = _subgroup_namer(subgroup_labels)

    order = batch.study_order
    s = batch.studies
    studies = _study_dicts(
        [study_labels[row] for row in order.tolist()],
        [name(key) for key in s.subgroup[order].tolist()],
        s.effect[order], s.se[order], s.ci_low[order], s.ci_high[order],
        s.weight_fixed[order], s.weight_random[order],
        s.status[order].tolist(), s.zero_cell_corrected[order].tolist(),
        is_ratio,
    )
    study_bounds = batch.study_bounds().tolist()
    loo, loo_bounds = _batch_sensitivity_dicts(
        batch, batch.leave_one_out, "omitted", study_labels, is_ratio, by_row=True)
    cumulative = cumulative_bounds = None
    if batch.cumulative is not None:
        cumulative, cumulative_bounds = _batch_sensitivity_dicts(
            batch, batch.cumulative, "added", study_labels, is_ratio, by_row=False)

    out = []
    for a in range(batch.n_analyses):
        direction = batch.directions[a]
        out.append(_payload(
            options,
            batch.chosen_model(a),
            direction,
            forest_labels(direction),
            pooled_view(batch.overall, a, options, direction),
            studies[study_bounds[a]:study_bounds[a + 1]],
            batch.subgroup_results(a),
            batch.subgroup_tests(a),
            loo[loo_bounds[a]:loo_bounds[a + 1]],
            (None if cumulative is None
             else cumulative[cumulative_bounds[a]:cumulative_bounds[a + 1]]),
            batch.egger_test(a),
            batch.funnel_data(a),
            batch.warnings(a),
            name,
        ))
    return out


# --------------------------------------------------------------------------- text


def _arm_cells(table: StudyTable, row: int) -> list[str]:
    v = table.values
    if table.kind is DataKind.CONTINUOUS:
        return [f"{v['mean1'][row]:g}", f"{v['sd1'][row]:g}", f"{v['n1'][row]:g}",
                f"{v['mean2'][row]:g}", f"{v['sd2'][row]:g}", f"{v['n2'][row]:g}"]
    if table.kind is DataKind.DICHOTOMOUS:
        return [f"{v['events1'][row]:g}", f"{v['total1'][row]:g}",
                f"{v['events2'][row]:g}", f"{v['total2'][row]:g}"]
    return [f"{v['effect'][row]:g}", f"{v['se'][row]:g}"]


def _arm_headers(kind: DataKind) -> tuple[list[str], list[str]]:
    if kind is DataKind.CONTINUOUS:
        return (["Experimental", "", "", "Control", "", ""],
                ["Mean", "SD", "Total", "Mean", "SD", "Total"])
    if kind is DataKind.DICHOTOMOUS:
        return (["Experimental", "", "Control", ""], ["Events", "Total", "Events", "Total"])
    return (["", ""], ["Effect", "SE"])


def _arm_totals(table: StudyTable, rows: Sequence[int]) -> list[str]:
    v = table.values
    if table.kind is DataKind.CONTINUOUS:
        return ["", "", f"{sum(v['n1'][r] for r in rows):g}",
                "", "", f"{sum(v['n2'][r] for r in rows):g}"]
    if table.kind is DataKind.DICHOTOMOUS:
        return ["", f"{sum(v['total1'][r] for r in rows):g}",
                "", f"{sum(v['total2'][r] for r in rows):g}"]
    return ["", ""]


def _pool_lines(pooled: Pooled, model: Model, label: str, measure, weight: float,
                totals: list[str]) -> list[list[str]]:
    estimate = pooled.model(model)
    return [[label, *totals, format_weight(weight),
             format_effect_ci(estimate.estimate, estimate.ci_low, estimate.ci_high, measure)]]


def _footer(pooled: Pooled, model: Model) -> list[str]:
    h = pooled.heterogeneity
    tau2 = h.tau2 if model is Model.RANDOM else None
    lines = [heterogeneity_line(h.q, h.df, h.p, h.i2, tau2)]  # "Not applicable" for one study
    estimate = pooled.model(model)
    lines.append(overall_effect_line(estimate.statistic, estimate.p, estimate.test))
    return lines


def text_summary(result: AnalysisResult, table: StudyTable) -> str:
    """A RevMan-style analysis summary: study rows, subtotals, total and test lines."""
    options = result.options
    measure = options.measure
    model = result.chosen_model
    weight_of = (lambda s: s.weight_fixed) if model is Model.FIXED else (lambda s: s.weight_random)
    level = f"{options.level:.0%}"
    study_level = f"{options.study_level:.0%}" if options.study_level is not None else level
    method = options.method.label
    model_name = "Fixed" if model is Model.FIXED else "Random"
    if options.hksj and model is Model.RANDOM:
        model_name += " (HKSJ)"
    heading = f"{measure.label}, {method}, {model_name}, {level} CI"
    head1, head2 = _arm_headers(table.kind)
    rows: list[list[str]] = [
        ["Study or Subgroup", *head1, "Weight", measure.label],
        ["", *head2, "", f"{method}, {model_name}, {study_level} CI"],
    ]
    notes: list[str] = []

    def study_row(s) -> list[str]:
        effect = ("Not estimable" if not s.estimable
                  else format_effect_ci(s.effect, s.ci_low, s.ci_high, measure))
        weight = format_weight(weight_of(s)) if s.estimable else ""
        return [table.studies[s.row], *_arm_cells(table, s.row), weight, effect]

    if result.subgroups:
        for number, subgroup in enumerate(result.subgroups, start=1):
            members = [s for s in result.studies if s.subgroup == subgroup.subgroup]
            name = (table.subgroup_labels[subgroup.subgroup] if table.subgroup_labels
                    else str(subgroup.subgroup))
            rows.append([f"{number} {name}"] + [""] * (len(head1) + 2))
            rows.extend(study_row(s) for s in members)
            weight = sum(weight_of(s) for s in members if s.estimable)
            rows.extend(_pool_lines(subgroup.pooled, model, f"Subtotal ({level} CI)", measure,
                                    weight, _arm_totals(table, [s.row for s in members])))
            notes.append((len(rows), _footer(subgroup.pooled, model)))
            rows.append([""] * (len(head1) + 3))
    else:
        rows.extend(study_row(s) for s in result.studies)
    rows.extend(_pool_lines(result.overall, model, f"Total ({level} CI)", measure,
                            100.0 if result.overall.k else 0.0,
                            _arm_totals(table, [s.row for s in result.studies])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

    def render(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    out = [heading, ""]
    note_at = dict(notes)
    for index, row in enumerate(rows, start=1):
        out.append(render(row))
        out.extend(note_at.get(index, []))
    out.extend(_footer(result.overall, model))
    test = result.subgroup_test
    if test is not None:
        out.append(subgroup_test_line(test.q, test.df, test.p, test.i2))
    if model is Model.RANDOM and math.isfinite(result.overall.random.prediction_low):
        r = result.overall.random
        interval = format_interval(r.prediction_low, r.prediction_high, measure)
        out.append(f"Prediction interval: {interval}")
    out.append(f"{result.labels.left}  |  {result.labels.right}")
    for warning in result.warnings:
        out.append(f"Note: {warning}")
    return "\n".join(out) + "\n"
