"""Agreement between two screeners: percent agreement, Cohen's κ with its confidence interval, PABAK
and Gwet's AC1. Pure functions over a k × k table of counts (no Django), so they can be checked
against published worked examples.

The table's rows are the first screener's categories and its columns the second's, in the same
order; cell ``[i, j]`` counts the records the first put in category ``i`` and the second in ``j``.
"""
from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Agreement:
    """Agreement of two raters over ``n`` jointly rated items. Coefficients are ``None`` when
    undefined (no items; or, for κ, when chance agreement is 1 because both raters used one
    category only)."""

    n: int
    percent_agreement: float | None
    kappa: float | None
    kappa_se: float | None
    kappa_ci_low: float | None
    kappa_ci_high: float | None
    pabak: float | None
    ac1: float | None


def _proportions(table: np.ndarray) -> tuple[np.ndarray, int]:
    counts = np.asarray(table, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] < 2:
        raise ValueError("An agreement table is square with at least two categories.")
    if np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError("An agreement table holds non-negative counts.")
    n = int(round(counts.sum()))
    return (counts / n if n else counts), n


def cohen_kappa(table: np.ndarray | list[list[int]]) -> tuple[float | None, float | None]:
    """Cohen's κ and its large-sample standard error.

    κ = (p_o − p_e) / (1 − p_e), with p_o = Σ p_ii and p_e = Σ p_i· p_·i (Cohen 1960, Educ. Psychol.
    Meas. 20:37–46). The standard error is the non-null large-sample one of Fleiss, Cohen & Everitt
    (1969, Psychol. Bull. 72:323–327), as given in Fleiss, Levin & Paik (2003) *Statistical Methods
    for Rates and Proportions*, 3rd ed., section 18.1:

        SE = √{ [Σ_i p_ii ((1 − p_e) − (p_·i + p_i·)(1 − p_o))²
                 + (1 − p_o)² Σ_{i≠j} p_ij (p_·i + p_j·)²
                 − (p_o p_e − 2 p_e + p_o)²] / (n (1 − p_e)⁴) }

    Returns ``(None, None)`` when there are no items or p_e = 1.
    """
    p, n = _proportions(np.asarray(table))
    if n == 0:
        return None, None
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    p_o = float(np.trace(p))
    p_e = float(rows @ cols)
    if math.isclose(p_e, 1.0):
        return None, None
    kappa = (p_o - p_e) / (1 - p_e)
    diagonal = np.diag(p)
    first = float(np.sum(diagonal * ((1 - p_e) - (cols + rows) * (1 - p_o)) ** 2))
    # Off-diagonal cell (i, j) is weighted by (p_·i + p_j·): column total of i plus row total of j.
    weights = (cols[:, None] + rows[None, :]) ** 2
    off = p * weights
    second = (1 - p_o) ** 2 * float(off.sum() - np.trace(off))
    third = (p_o * p_e - 2 * p_e + p_o) ** 2
    variance = max(first + second - third, 0.0) / (n * (1 - p_e) ** 4)
    return kappa, math.sqrt(variance)


def pabak(table: np.ndarray | list[list[int]]) -> float | None:
    """Prevalence- and bias-adjusted κ, (k p_o − 1) / (k − 1) for k categories (Byrt, Bishop &
    Carlin 1993, J. Clin. Epidemiol. 46:423–429; 2 p_o − 1 for two categories)."""
    p, n = _proportions(np.asarray(table))
    if n == 0:
        return None
    k = p.shape[0]
    return (k * float(np.trace(p)) - 1) / (k - 1)


def gwet_ac1(table: np.ndarray | list[list[int]]) -> float | None:
    """Gwet's first-order agreement coefficient AC1 (Gwet 2008, Br. J. Math. Stat. Psychol.
    61:29–48, eq. 14): (p_o − p_e) / (1 − p_e) with chance agreement
    p_e = Σ_q π_q (1 − π_q) / (k − 1), π_q = (p_q· + p_·q) / 2."""
    p, n = _proportions(np.asarray(table))
    if n == 0:
        return None
    k = p.shape[0]
    pi = (p.sum(axis=1) + p.sum(axis=0)) / 2
    p_e = float(np.sum(pi * (1 - pi))) / (k - 1)
    p_o = float(np.trace(p))
    return (p_o - p_e) / (1 - p_e)


def agreement(table: np.ndarray | list[list[int]], *, level: float = 0.95) -> Agreement:
    """Every coefficient of one table; κ's interval is κ ± z·SE (Wald, with the SE above)."""
    p, n = _proportions(np.asarray(table))
    if n == 0:
        return Agreement(0, None, None, None, None, None, None, None)
    kappa, se = cohen_kappa(table)
    low = high = None
    if kappa is not None and se is not None:
        z = float(stats.norm.ppf(0.5 + level / 2))
        low, high = kappa - z * se, kappa + z * se
    return Agreement(n=n, percent_agreement=100 * float(np.trace(p)), kappa=kappa, kappa_se=se,
                     kappa_ci_low=low, kappa_ci_high=high, pabak=pabak(table), ac1=gwet_ac1(table))
