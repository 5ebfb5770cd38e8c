"""RevMan 5 number formatting, shared by the command line and the web pages.

RevMan prints effects to 2 decimals, weights to 1 decimal with "%", I² as a whole
percentage in heterogeneity lines and to 1 decimal in the subgroup-differences line,
and P values with fewer decimals the larger they are, floored at "P < 0.00001".
"""

from __future__ import annotations

import math

from .options import Measure


def format_number(value: float | None, decimals: int = 2) -> str:
    """Fixed decimals; "NA" for a missing or non-finite value; never "-0.00"."""
    if value is None or not math.isfinite(value):
        return "NA"
    text = f"{value:.{decimals}f}"
    if text.startswith("-") and float(text) == 0.0:
        text = text[1:]
    return text


def format_p(p: float | None) -> str:
    """RevMan's P: "P < 0.00001", "P < 0.0001", "P = 0.0003", "P = 0.002", "P = 0.12".

    Values at or above 0.01 get two decimals, 0.001 to 0.01 three, 0.0001 to 0.001
    four; smaller values are shown as upper bounds.
    """
    if p is None or not math.isfinite(p):
        return "P = NA"
    if p < 0.00001:
        return "P < 0.00001"
    if p < 0.0001:
        return "P < 0.0001"
    if p < 0.001:
        return f"P = {p:.4f}"
    if p < 0.01:
        return f"P = {p:.3f}"
    return f"P = {p:.2f}"


def format_weight(percent: float | None) -> str:
    """Study weight as RevMan prints it, e.g. "12.3%"."""
    return f"{format_number(percent, 1)}%"


def format_i2(percent: float | None, decimals: int = 0) -> str:
    """I² percentage: whole number in heterogeneity lines, 1 decimal for subgroups."""
    return f"{format_number(percent, decimals)}%"


def format_effect_ci(
    estimate: float, ci_low: float, ci_high: float, measure: Measure, decimals: int = 2
) -> str:
    """"-0.43 [-0.72, -0.14]" on the display scale (ratios exponentiated)."""
    if measure.is_ratio:
        estimate, ci_low, ci_high = (
            math.exp(x) if math.isfinite(x) else x for x in (estimate, ci_low, ci_high)
        )
    return (
        f"{format_number(estimate, decimals)} "
        f"[{format_number(ci_low, decimals)}, {format_number(ci_high, decimals)}]"
    )


def format_interval(low: float, high: float, measure: Measure, decimals: int = 2) -> str:
    """"[-0.72, -0.14]" on the display scale (ratios exponentiated)."""
    if measure.is_ratio:
        low, high = (math.exp(x) if math.isfinite(x) else x for x in (low, high))
    return f"[{format_number(low, decimals)}, {format_number(high, decimals)}]"


def _applicable(q: float | None, df: float | None) -> bool:
    """A Q test exists only with at least 1 df and a finite Q (RevMan: "Not applicable")."""
    return q is not None and math.isfinite(q) and df is not None and df >= 1


def heterogeneity_line(
    q: float | None, df: int, p: float | None, i2: float | None, tau2: float | None = None
) -> str:
    """"Heterogeneity: Tau² = 0.14; Chi² = 41.88, df = 13 (P < 0.0001); I² = 69%".

    ``tau2`` is given for random-effects analyses and omitted for fixed effect. A single
    study (df = 0) gives "Heterogeneity: Not applicable", as RevMan prints it.
    """
    if not _applicable(q, df):
        return "Heterogeneity: Not applicable"
    prefix = "" if tau2 is None else f"Tau² = {format_number(tau2)}; "
    return (
        f"Heterogeneity: {prefix}Chi² = {format_number(q)}, df = {df} "
        f"({format_p(p)}); I² = {format_i2(i2)}"
    )


def overall_effect_line(statistic: float | None, p: float | None, test: str = "z") -> str:
    """"Test for overall effect: Z = 1.54 (P = 0.12)" (or "T = …" for HKSJ).

    "Not applicable" when there is no statistic (no estimable study, or HKSJ on 0 df).
    """
    if statistic is None or math.isnan(statistic):
        return "Test for overall effect: Not applicable"
    label = "Z" if test == "z" else "T"
    return f"Test for overall effect: {label} = {format_number(abs(statistic))} ({format_p(p)})"


def subgroup_test_line(q: float | None, df: int, p: float | None, i2: float | None) -> str:
    """"Test for subgroup differences: Chi² = 3.70, df = 1 (P = 0.05), I² = 73.0%".

    With fewer than two estimable subgroups (df < 1) RevMan prints "Not applicable".
    """
    if not _applicable(q, df):
        return "Test for subgroup differences: Not applicable"
    return (
        f"Test for subgroup differences: Chi² = {format_number(q)}, df = {df} "
        f"({format_p(p)}), I² = {format_i2(i2, 1)}"
    )
