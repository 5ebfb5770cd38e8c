"""The parity report: for every result RevMan stored in the imported file, ours beside it.

Tolerances (issue 23): 1e-10 relative for estimates, CIs, Z, τ², Chi², I² and weights (with an
absolute floor of 1e-12 for values at or near 0); P values to RevMan's own precision. RevMan's
P values are its own approximations of the normal and χ² tails, not the exact tails of its own Z
and Chi² (e.g. Fleiss 1993, analysis 1.1: Chi² = 9.946055983220074 on 6 df, RevMan's P =
0.1269422521561745, the exact tail 0.126942177906); they agree with the exact tail to about six
significant digits, so P is compared at relative 1e-5 and marked as RevMan's approximation.
A value RevMan stored rounded (a short decimal such as "40" or "0.13", as older versions wrote)
is compared at its own precision: within half a unit of its last digit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from analysis.engine import Measure
from analysis.revman.analyse import (
    OutcomeAnalysis,
    outcome_analyse,
    reported_model_is_random,
)
from studies.models import DataType, Outcome, Review, Totals

RELATIVE_TOLERANCE = 1e-10
ABSOLUTE_FLOOR = 1e-12
P_RELATIVE_TOLERANCE = 1e-5
P_STATISTICS = frozenset({"P_Z", "P_CHI2", "P_Q"})
# Statistics a full-precision double carries more than this many significant digits of; fewer
# means RevMan wrote a rounded value.
ROUNDED_DIGITS = 8
LABELS = {"EFFECT_SIZE": "Estimate", "CI_START": "CI lower", "CI_END": "CI upper", "Z": "Z", "P_Z": "P (Z)",
          "TAU2": "Tau²", "CHI2": "Chi²", "DF": "df", "P_CHI2": "P (Chi²)", "I2": "I² %", "Q": "Subgroup Chi²",
          "P_Q": "P (subgroup)", "I2_Q": "Subgroup I² %", "WEIGHT": "Weight %"}


@dataclass(frozen=True)
class ParityCheck:
    """One stored number against ours."""

    scope: str  # "Overall", "Subgroup 1.1.2 Low dose", "Study ISIS-2"
    statistic: str  # RevMan's attribute name
    revman: float
    ours: float
    difference: float
    tolerance: float
    equal: bool
    note: str  # why the tolerance is what it is (RevMan's approximation, a rounded value)

    @property
    def label(self) -> str:
        return LABELS.get(self.statistic, self.statistic)


@dataclass(frozen=True)
class ParityAnalysis:
    """The checks of one RevMan analysis, or why it was not checked."""

    number: str
    name: str
    checks: tuple[ParityCheck, ...]
    not_checked: str  # empty when checked

    @property
    def equal(self) -> int:
        return sum(check.equal for check in self.checks)

    @property
    def different(self) -> int:
        return len(self.checks) - self.equal


@dataclass(frozen=True)
class ParityReport:
    """Every analysis of an imported review, with counts over all checks."""

    analyses: tuple[ParityAnalysis, ...]

    @property
    def checked(self) -> int:
        return sum(len(a.checks) for a in self.analyses)

    @property
    def equal(self) -> int:
        return sum(a.equal for a in self.analyses)

    @property
    def different(self) -> int:
        return self.checked - self.equal

    def counts(self) -> dict[str, int]:
        return {"checked": self.checked, "equal": self.equal, "different": self.different}


def _stored_precision(value: float) -> float | None:
    """Half a unit of the last digit of a value RevMan stored rounded, or ``None`` for full precision."""
    text = repr(float(value))
    if "e" in text or "inf" in text or "nan" in text:
        return None
    digits = text.replace("-", "").replace(".", "").lstrip("0")
    if len(digits.rstrip("0") or "0") > ROUNDED_DIGITS - 1 or value == 0:
        return None
    decimals = len(text.split(".")[1].rstrip("0")) if "." in text else 0
    return 0.5 * 10.0 ** (-decimals)


def _compare(scope: str, statistic: str, revman: float | None, ours: float | None, *,
           rounded_file: bool = False) -> ParityCheck | None:
    if revman is None or ours is None or not math.isfinite(ours):
        return None
    difference = ours - revman
    if statistic in P_STATISTICS:
        tolerance, note = P_RELATIVE_TOLERANCE * abs(revman) + ABSOLUTE_FLOOR, "RevMan's approximation of the tail"
    else:
        tolerance, note = RELATIVE_TOLERANCE * abs(revman) + ABSOLUTE_FLOOR, ""
    rounded = _stored_precision(revman) if rounded_file else None
    if rounded is not None and rounded > tolerance:
        tolerance, note = rounded * (1 + 1e-9), "RevMan stored a rounded value"
    return ParityCheck(scope=scope, statistic=statistic, revman=revman, ours=ours, difference=difference,
                       tolerance=tolerance, equal=abs(difference) <= tolerance, note=note)


def _pooled_values(pooled, random: bool, ratio: bool) -> dict[str, float]:
    """Our numbers in RevMan's attribute names and scale (ratios on the ratio scale, |Z|)."""
    estimate = pooled.random if random else pooled.fixed
    scale = math.exp if ratio else (lambda x: x)
    het = pooled.heterogeneity
    values = {"EFFECT_SIZE": scale(estimate.estimate), "CI_START": scale(estimate.ci_low),
              "CI_END": scale(estimate.ci_high), "Z": abs(estimate.statistic), "P_Z": estimate.p,
              "CHI2": het.q, "DF": float(het.df), "P_CHI2": het.p, "I2": het.i2}
    if random:
        # RevMan computes τ² only for random-effects analyses (it stores 0 otherwise).
        values["TAU2"] = het.tau2
    return values


def _stored_on_ratio_scale(stored: dict, ratio: bool) -> bool:
    """Whether RevMan stored these results on the ratio scale. Dichotomous ratios always are; for
    generic data entered as logs, the stored triple says which: on the ratio scale the estimate is
    the geometric midpoint of its (positive) CI, on the log scale the arithmetic one."""
    if not ratio:
        return False
    estimate, low, high = (stored.get(key) for key in ("EFFECT_SIZE", "CI_START", "CI_END"))
    if estimate is None or low is None or high is None:
        return True
    if min(estimate, low, high) <= 0:
        return False  # a ratio is positive: these are logs
    return abs(estimate - math.sqrt(low * high)) <= abs(estimate - (low + high) / 2)


def _is_ratio(outcome: Outcome) -> bool:
    if outcome.data_type == DataType.GENERIC:
        return outcome.log_scale
    return Measure(outcome.effect_measure).is_ratio


def analysis_parity(analysis: OutcomeAnalysis, stored: dict) -> ParityAnalysis:
    """Our results for one imported analysis beside the ones RevMan stored."""
    outcome = analysis.outcome
    number, name = outcome.revman_number, stored.get("name", outcome.name)
    if analysis.result is None:
        return ParityAnalysis(number, name, (), "No estimable rows.")
    overall = stored.get("stored", {})
    calculated = [overall, *(sub["stored"] for sub in stored.get("subgroups", []))]
    if all(values.get(key) is None for values in calculated for key in ("EFFECT_SIZE", "CI_START", "CI_END")):
        return ParityAnalysis(number, name, (), "RevMan stored no results for this analysis (never calculated).")
    result, random, ratio = analysis.result, reported_model_is_random(analysis), _is_ratio(outcome)
    # Whether this analysis was stored rounded: its CI and Z (never whole numbers) are short decimals.
    telltales = [overall.get(key) for key in ("CI_START", "CI_END", "Z") if overall.get(key)]
    rounded_file = bool(telltales) and all(_stored_precision(value) is not None for value in telltales)

    def _check(*args):
        return _compare(*args, rounded_file=rounded_file)

    checks: list[ParityCheck | None] = []
    generic = outcome.data_type == DataType.GENERIC
    ours = _pooled_values(result.overall, random, _stored_on_ratio_scale(overall, ratio) if generic else ratio)
    for statistic, value in ours.items():
        checks.append(_check("Overall", statistic, overall.get(statistic), value))
    if stored.get("subgroups"):
        test = result.subgroup_test_random if random else result.subgroup_test_fixed
        if test is not None:
            for statistic, value in (("Q", test.q), ("P_Q", test.p), ("I2_Q", test.i2)):
                checks.append(_check("Test for subgroup differences", statistic, overall.get(statistic), value))
        by_index = {sub.subgroup: sub for sub in result.subgroups}
        for index, sub in enumerate(stored["subgroups"]):
            if index in by_index and by_index[index].pooled.k > 0:
                scope = f"Subgroup {sub['number']} {sub['name']}"
                on_ratio_scale = _stored_on_ratio_scale(sub["stored"], ratio) if generic else ratio
                for statistic, value in _pooled_values(by_index[index].pooled, random, on_ratio_scale).items():
                    checks.append(_check(scope, statistic, sub["stored"].get(statistic), value))
    studies = {row.key: study for row, study in zip(analysis.rows, result.studies, strict=True)}
    weights = _row_weights(analysis, random)
    for row in stored.get("rows", []):
        study = studies.get(row["key"])
        if study is None:
            continue
        scope = f"Study {row['study']}"
        checks.append(_check(scope, "WEIGHT", row.get("weight"), weights.get(row["key"], 0.0)))
        if not study.estimable:
            continue
        if outcome.data_type != DataType.GENERIC:  # a generic row's effect is its input, not a result
            on_ratio_scale = ratio
            effect = math.exp(study.effect) if ratio else study.effect
            checks.append(_check(scope, "EFFECT_SIZE", row.get("effect"), effect))
        else:
            # A generic row's CI may be stored on either scale (RevMan shows ratios, files hold either;
            # its EFFECT_SIZE is the entered log): read it on the scale it is nearer to.
            low = row.get("ci_start")
            on_ratio_scale = ratio and low is not None and abs(low - math.exp(study.ci_low)) < abs(low - study.ci_low)
        # The study's CI, at the analysis's own study level (RevMan's CI_STUDY).
        scale = math.exp if on_ratio_scale else (lambda x: x)
        checks.append(_check(scope, "CI_START", row.get("ci_start"), scale(study.ci_low)))
        checks.append(_check(scope, "CI_END", row.get("ci_end"), scale(study.ci_high)))
    return ParityAnalysis(number, name, tuple(c for c in checks if c is not None), "")


def _percent(analysis: OutcomeAnalysis, random: bool) -> dict[int, float]:
    """Each row's weight in percent of its analysis (0 for a row that is not estimable)."""
    weights = [s.weight_random if random else s.weight_fixed for s in analysis.result.studies]
    total = sum(w for w in weights if math.isfinite(w))
    return {row.key: (w * 100 / total if total and math.isfinite(w) else 0.0)
            for row, w in zip(analysis.rows, weights, strict=True)}


def _row_weights(analysis: OutcomeAnalysis, random: bool) -> dict[int, float]:
    """Study weights as RevMan shows them: percent of the total, or with "subtotals only" (no total
    is computed) percent of the row's own subgroup, pooled on its own."""
    if not (analysis.subgroup_ids and analysis.outcome.totals == Totals.SUB):
        return _percent(analysis, random)
    weights: dict[int, float] = {}
    for subgroup_id in analysis.subgroup_ids:
        rows = [row for row in analysis.rows if row.subgroup_id == subgroup_id]
        if rows:
            alone = outcome_analyse(analysis.outcome.review, analysis.outcome, rows)
            weights.update(_percent(alone, random))
    return weights


def rm5_parity(review: Review) -> ParityReport:
    """The parity report of a review imported from RevMan (empty when it was not)."""
    revman_import = getattr(review, "revman_import", None)
    if revman_import is None:
        return ParityReport(())
    outcomes = {o.revman_number: o for o in review.outcomes.exclude(revman_number="")}
    analyses = []
    for number, stored in revman_import.analyses.items():
        outcome = outcomes.get(number)
        if outcome is None:
            analyses.append(ParityAnalysis(number, stored.get("name", ""), (), "The outcome was deleted."))
            continue
        analyses.append(analysis_parity(outcome_analyse(review, outcome), stored))
    analyses.sort(key=lambda a: [int(part) if part.isdigit() else 0 for part in a.number.split(".")])
    return ParityReport(tuple(analyses))
