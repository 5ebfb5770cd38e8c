"""Heterogeneity: Cochran's Q, I² and the between-study variance τ².

All functions work on per-set arrays (one entry per analysis, subgroup, or
leave-one-out set), so a whole review's heterogeneity is a handful of NumPy calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import chdtrc

from .options import Tau2Method
from .study_sets import MemberSets

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.intp]


def q_test_p(q: FloatArray, df: FloatArray) -> FloatArray:
    """P(χ²_df ≥ Q); NaN where df < 1 (a single study has no heterogeneity test)."""
    with np.errstate(invalid="ignore"):
        return np.where(df >= 1, chdtrc(np.maximum(df, 1.0), q), np.nan)


def i_squared(q: FloatArray, df: FloatArray) -> FloatArray:
    """I² = max(0, (Q − df)/Q) in percent (Higgins & Thompson 2002; RevMan 5).

    0 when Q = 0 with df ≥ 1 (identical studies); NaN, "not applicable", when df < 1: a
    single study (or none) has no heterogeneity to describe, as RevMan prints
    "Heterogeneity: Not applicable".
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        i2 = np.where(q > 0.0, np.maximum(0.0, (q - df) / q) * 100.0, 0.0)
    return np.where(df >= 1, i2, np.nan)


def tau2_dersimonian_laird(
    q: FloatArray, df: FloatArray, sum_w: FloatArray, sum_w2: FloatArray
) -> FloatArray:
    """DerSimonian & Laird (1986): τ² = max(0, (Q − df)/(Σw − Σw²/Σw)).

    ``q`` is the Q that RevMan feeds into the estimator: inverse-variance weights
    about the fixed-effect estimate, which is the Mantel–Haenszel estimate in MH
    analyses (Deeks & Higgins 2010). Truncated at 0 (statsmodels 0.15 omits this).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = sum_w - sum_w2 / sum_w
        tau2 = np.maximum(0.0, (q - df) / scale)
    return np.where((df >= 1) & (scale > 0.0), tau2, 0.0)


@dataclass(frozen=True)
class Tau2Estimate:
    """τ² per set with how it was reached (iterations 0 for closed forms)."""

    tau2: FloatArray
    converged: BoolArray
    iterations: IntArray


def tau2_iterative(
    sets: MemberSets,
    y: FloatArray,
    v: FloatArray,
    k: FloatArray,
    start: FloatArray,
    candidates: BoolArray,
    method: Tau2Method,
    max_iter: int,
    tol: float,
) -> Tau2Estimate:
    """REML (Fisher scoring) or Paule–Mandel (Newton) τ² for many sets at once.

    Every iteration updates all still-active sets with a few ``np.bincount`` calls
    over the expanded (member, set) pairs; sets drop out as they converge, and sets
    that hit ``max_iter`` are reported as not converged with their last iterate.

    Parameters
    ----------
    sets
        The family of study sets.
    y, v
        Effects and within-study variances of the layout rows.
    k
        Number of studies per set.
    start
        Starting value per set (ignored outside ``candidates``).
    candidates
        Sets to iterate on; others get τ² = 0, converged in 0 iterations.
    method
        ``REML`` or ``PM``.
    max_iter, tol
        Iteration cap; convergence when |Δτ²| ≤ tol·τ² (or Δτ² = 0 at the boundary).

    Returns
    -------
    Tau2Estimate
        The estimates, convergence flags and iteration counts.

    Notes
    -----
    REML (Viechtbauer 2005, eq. 8 and Fisher information): with wᵢ = 1/(vᵢ + τ²),
    P = W − wwᵀ/Σw, one step is Δ = (Σwᵢ²(yᵢ − θ̂)² − tr P) / tr(P²), where
    tr P = Σw − Σw²/Σw and tr(P²) = Σw² − 2Σw³/Σw + (Σw²/Σw)². Steps that would make
    τ² negative are projected onto 0, which is the boundary maximum when the score
    stays negative there.

    Paule–Mandel (DerSimonian & Kacker 2007): τ² solves
    Q(τ²) = Σwᵢ(yᵢ − θ̂)² = k − 1. Q is decreasing and convex in τ², so Newton's
    method from τ² = 0, with Q'(τ²) = −Σwᵢ²(yᵢ − θ̂)², climbs to the root
    monotonically; sets with Q(0) ≤ k − 1 have τ² = 0 without iterating.
    """
    n_sets = len(k)
    tau2 = np.where(candidates, start, 0.0)
    converged = ~candidates
    iterations = np.zeros(n_sets, dtype=np.intp)
    active = candidates.copy()
    expansion = sets.expand(candidates)
    for iteration in range(1, max_iter + 1):
        if not active.any():
            break
        # Converged sets stop costing work once they are the majority of the pairs.
        if len(expansion.rows) and active[expansion.owner].mean() < 0.5:
            expansion = expansion.restricted_to(active)
        rows, owner = expansion.rows, expansion.owner
        ye = y[rows]
        w = 1.0 / (v[rows] + tau2[owner])
        with np.errstate(divide="ignore", invalid="ignore"):
            sum_w = expansion.sum(w)
            theta = expansion.sum(w * ye) / sum_w
            residual2 = (ye - theta[owner]) ** 2
            w2 = w * w
            score_part = expansion.sum(w2 * residual2)
            if method is Tau2Method.REML:
                sum_w2 = expansion.sum(w2)
                sum_w3 = expansion.sum(w2 * w)
                trace_p = sum_w - sum_w2 / sum_w
                trace_pp = sum_w2 - 2.0 * sum_w3 / sum_w + (sum_w2 / sum_w) ** 2
                step = (score_part - trace_p) / trace_pp
            else:
                generalised_q = expansion.sum(w * residual2)
                # score_part = −Q'(τ²); it is 0 only when every residual is 0, and
                # then Q = 0 ≤ k − 1, so the root is at (or below) the current τ².
                step = np.where(
                    score_part > 0.0, (generalised_q - (k - 1.0)) / score_part, -tau2
                )
        updated = np.maximum(0.0, tau2 + np.nan_to_num(step, nan=0.0))
        change = np.abs(updated - tau2)
        tau2 = np.where(active, updated, tau2)
        iterations = np.where(active, iteration, iterations)
        # Relative criterion: τ² is in squared effect units, which range from 1e-6 (risk
        # differences) to 1e3 (mean differences); a step of exactly 0 (a boundary
        # solution) is converged too.
        done = active & (change <= tol * updated)
        converged = converged | done
        active = active & ~done
    return Tau2Estimate(tau2, converged, iterations)
