"""Turning an :class:`~.results.AnalysisResult` into JSON-ready dicts and RevMan-style text.

The JSON layout is the command line's contract (and a natural API payload): every
number on the analysis scale (log for OR/RR) with exponentiated ``ratio*`` copies for
ratio measures, NaN as ``null``, weights and I² in percent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .csv_input import DataKind, StudyTable
from .formatting import (
    format_effect_ci,
    format_interval,
    format_weight,
    heterogeneity_line,
    overall_effect_line,
    subgroup_test_line,
)
from .options import Model
from .results import AnalysisResult, Estimate, Pooled, RandomEffects, SubgroupTest


def _num(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _ratio_fields(estimate: float, low: float, high: float, is_ratio: bool) -> dict[str, Any]:
    if not is_ratio:
        return {}
    return {
        "ratio": _num(math.exp(estimate)) if math.isfinite(estimate) else None,
        "ratio_ci_low": _num(math.exp(low)) if math.isfinite(low) else None,
        "ratio_ci_high": _num(math.exp(high)) if math.isfinite(high) else None,
    }


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
    """``{q, df, p, i2, tau2, tau2_method, tau2_converged, tau2_iterations}``."""
    h = pooled.heterogeneity
    return {
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
    return {"q": _num(test.q), "df": test.df, "p": _num(test.p), "i2": _num(test.i2)}


def result_to_dict(
    result: AnalysisResult,
    study_labels: Sequence[str],
    subgroup_labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """JSON-ready dict of one analysis.

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

    def subgroup_name(key: int | None) -> str | None:
        if key is None:
            return None
        return subgroup_labels[key] if subgroup_labels is not None else str(key)

    studies = []
    for s in result.studies:
        entry = {
            "study": study_labels[s.row],
            "effect": _num(s.effect),
            "se": _num(s.se),
            "ci_low": _num(s.ci_low),
            "ci_high": _num(s.ci_high),
            "weight_fixed": _num(s.weight_fixed),
            "weight_random": _num(s.weight_random),
            "subgroup": subgroup_name(s.subgroup),
            "estimable": s.estimable,
            "status": s.status.name.lower(),
            "zero_cell_corrected": s.zero_cell_corrected,
        }
        entry.update(_ratio_fields(s.effect, s.ci_low, s.ci_high, is_ratio))
        studies.append(entry)

    def sensitivity_rows(rows, key: str) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            entry = {
                key: study_labels[row.row],
                "k": row.pooled.k,
                "estimate": _num(row.chosen.estimate),
                "se": _num(row.chosen.se),
                "ci_low": _num(row.chosen.ci_low),
                "ci_high": _num(row.chosen.ci_high),
                "p": _num(row.chosen.p),
                "q": _num(row.pooled.heterogeneity.q),
                "i2": _num(row.pooled.heterogeneity.i2),
                "tau2": _num(row.pooled.heterogeneity.tau2),
            }
            entry.update(_ratio_fields(row.chosen.estimate, row.chosen.ci_low,
                                       row.chosen.ci_high, is_ratio))
            out.append(entry)
        return out

    egger = None
    if result.egger is not None:
        e = result.egger
        egger = {"intercept": _num(e.intercept), "se": _num(e.se), "t": _num(e.t),
                 "df": e.df, "p": _num(e.p), "slope": _num(e.slope)}
    funnel = None
    if result.funnel is not None:
        f = result.funnel
        low, high = f.limits(f.se_max)
        funnel = {"centre": _num(f.centre), "se_max": _num(f.se_max), "z": f.z,
                  "limit_low_at_se_max": _num(low), "limit_high_at_se_max": _num(high)}
    options = result.options
    return {
        "measure": options.measure.value,
        "method": options.method.value,
        "tau2_method": options.tau2_method.value,
        "hksj": options.hksj,
        "level": options.level,
        "model_rule": options.model_rule.value,
        "i2_threshold": options.i2_threshold,
        "chosen_model": result.chosen_model.value,
        "direction": result.direction.value,
        "favours": result.chosen.favours.value,
        "labels": {"left": result.labels.left, "right": result.labels.right},
        "studies": studies,
        "fixed": estimate_dict(result.overall.fixed, is_ratio),
        "random": estimate_dict(result.overall.random, is_ratio),
        "heterogeneity": heterogeneity_dict(result.overall),
        "subgroups": [
            {
                "name": subgroup_name(s.subgroup),
                "fixed": estimate_dict(s.pooled.fixed, is_ratio),
                "random": estimate_dict(s.pooled.random, is_ratio),
                "heterogeneity": heterogeneity_dict(s.pooled),
            }
            for s in result.subgroups
        ],
        "subgroup_test": (
            None if result.subgroup_test_fixed is None else {
                "fixed": _subgroup_test_dict(result.subgroup_test_fixed),
                "random": _subgroup_test_dict(result.subgroup_test_random),
            }
        ),
        "leave_one_out": sensitivity_rows(result.leave_one_out, "omitted"),
        "cumulative": (None if result.cumulative is None
                       else sensitivity_rows(result.cumulative, "added")),
        "egger": egger,
        "funnel": funnel,
        "warnings": list(result.warnings),
    }


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
    lines = []
    if pooled.k >= 2:
        tau2 = h.tau2 if model is Model.RANDOM else None
        lines.append(heterogeneity_line(h.q, h.df, h.p, h.i2, tau2))
    else:
        lines.append("Heterogeneity: Not applicable")
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
    method = "M-H" if options.method.value == "MH" else "IV"
    model_name = "Fixed" if model is Model.FIXED else "Random"
    if options.hksj and model is Model.RANDOM:
        model_name += " (HKSJ)"
    heading = f"{measure.label}, {method}, {model_name}, {level} CI"
    head1, head2 = _arm_headers(table.kind)
    rows: list[list[str]] = [
        ["Study or Subgroup", *head1, "Weight", measure.label],
        ["", *head2, "", f"{method}, {model_name}, {level} CI"],
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
