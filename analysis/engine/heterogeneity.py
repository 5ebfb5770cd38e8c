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
from .study_sets import Expansion, MemberSets

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

    The REML log-likelihood can have more than one maximum (e.g. precise studies that
    agree beside imprecise ones that scatter: a maximum at τ² = 0 and another far
    out), and Fisher scoring climbs to whichever its start leads to. So REML also
    profiles the restricted log-likelihood (:func:`reml_loglik`) over τ² = 0 and a
    geometric grid up to a bound beyond which the score is negative; where a grid
    point beats the scoring result, scoring restarts from it and the higher of the two
    maxima is kept (issue 23: a set where scoring from the DerSimonian–Laird start
    stopped at τ² = 0.93, log-likelihood −16.97, while τ² = 0 gives −16.77).

    Paule–Mandel (DerSimonian & Kacker 2007): τ² solves
    Q(τ²) = Σwᵢ(yᵢ − θ̂)² = k − 1. Q is decreasing and convex in τ², so Newton's
    method from τ² = 0, with Q'(τ²) = −Σwᵢ²(yᵢ − θ̂)², climbs to the root
    monotonically; sets with Q(0) ≤ k − 1 have τ² = 0 without iterating.
    """
    first = _iterate(sets, y, v, k, start, candidates, method, max_iter, tol)
    if method is not Tau2Method.REML or not candidates.any():
        return first
    return _reml_global_maximum(sets, y, v, k, first, candidates, max_iter, tol)


# Profile grid of the REML global-maximum check: τ² = 0 and this many points spaced
# geometrically from 1e-8 to 1 times the group's bound (neighbours 1.2 times apart).
PROFILE_POINTS = 100
PROFILE_SPAN = 1e-8


def reml_loglik(
    expansion: Expansion, y: FloatArray, v: FloatArray, tau2: FloatArray
) -> FloatArray:
    """Restricted log-likelihood of the random-effects model per set at ``tau2``.

    ll_R(τ²) = −½[(k − 1) log 2π − log k + Σ log(vᵢ + τ²) + log Σwᵢ + Σwᵢ(yᵢ − θ̂)²]
    with wᵢ = 1/(vᵢ + τ²) and θ̂ = Σwᵢyᵢ/Σwᵢ (Viechtbauer 2005, eq. 7), the value metafor's
    ``logLik()`` reports for ``rma(method="REML")``. Sets without pairs give NaN.
    """
    return _reml_state(expansion, y, v, tau2)[0]


def _profile_loglik(
    sets: MemberSets, y: FloatArray, v: FloatArray, k: FloatArray, group_tau2: FloatArray,
    centre: FloatArray,
) -> FloatArray:
    """:func:`reml_loglik` of every set at the τ² of its group, from static sums.

    One τ² per group makes every row's weight independent of the set, so leave-one-out
    and cumulative sets cost O(rows) per τ², not O(Σ set sizes). Σw(y − θ̂)² comes from
    Σwy'² − (Σwy')²/Σw with y' centred on the group's mean, which keeps the cancellation
    small; the profile only chooses where to restart scoring, whose result is compared
    exactly.
    """
    group = sets.row_group
    total = v + group_tau2[group]
    w = 1.0 / total
    centred = y - centre[group]
    with np.errstate(divide="ignore", invalid="ignore"):
        sum_w = sets.static_sum(w)
        sum_wy = sets.static_sum(w * centred)
        spread = np.maximum(sets.static_sum(w * centred * centred) - sum_wy * sum_wy / sum_w, 0.0)
        return -0.5 * ((k - 1.0) * np.log(2.0 * np.pi) - np.log(k)
                       + sets.static_sum(np.log(total)) + np.log(sum_w) + spread)


def _profile_bound(sets: MemberSets, y: FloatArray, v: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per group: a τ² beyond which the REML score of each of its sets is negative, and
    the group's mean effect.

    With wᵢ = 1/(vᵢ + τ²): Σwᵢ²rᵢ² ≤ w_max²·SS (SS = Σ(yᵢ − ȳ)²) and tr P ≥ (k − 1)w_min,
    and for τ² ≥ v_max, w_min/w_max² ≥ τ²/2; so the score Σwᵢ²rᵢ² − tr P of a set is
    negative for τ² > max(v_max, 2·SS/(k − 1)). A set's SS is at most its group's, and
    k − 1 ≥ 1, so max(v_max, 2·SS) of the group bounds every maximum of its sets.
    """
    group = sets.row_group
    # Groups without estimable rows (an empty analysis) still own sets.
    n_groups = max(int(group.max(initial=-1)), int(sets.set_group.max(initial=-1))) + 1
    count = np.bincount(group, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(group, weights=y, minlength=n_groups) / count
    mean = np.nan_to_num(mean)
    ss = np.bincount(group, weights=(y - mean[group]) ** 2, minlength=n_groups)
    v_max = np.zeros(n_groups)
    np.maximum.at(v_max, group, v)
    return np.maximum(v_max, 2.0 * ss), mean


def _reml_global_maximum(
    sets: MemberSets,
    y: FloatArray,
    v: FloatArray,
    k: FloatArray,
    first: Tau2Estimate,
    candidates: BoolArray,
    max_iter: int,
    tol: float,
) -> Tau2Estimate:
    """Keep the scoring result only where no profile point has a higher likelihood."""
    bound, centre = _profile_bound(sets, y, v)
    set_bound = bound[sets.set_group]
    best_tau2 = np.zeros(len(k))
    best_ll = _profile_loglik(sets, y, v, k, np.zeros_like(bound), centre)  # the boundary τ² = 0
    for fraction in np.geomspace(PROFILE_SPAN, 1.0, PROFILE_POINTS):
        ll = _profile_loglik(sets, y, v, k, bound * fraction, centre)
        higher = ll > best_ll
        best_tau2 = np.where(higher, set_bound * fraction, best_tau2)
        best_ll = np.where(higher, ll, best_ll)
    scored_ll = reml_loglik(sets.expand(candidates), y, v, first.tau2)
    # At a true maximum no profile point is higher, up to the rounding of the static sums.
    retry = candidates & (best_ll > scored_ll + 1e-9 * (1.0 + np.abs(scored_ll)))
    if not retry.any():
        return first
    second = _iterate(sets, y, v, k, best_tau2, retry, Tau2Method.REML, max_iter, tol)
    second_ll = reml_loglik(sets.expand(retry), y, v, second.tau2)
    better = retry & (second_ll > scored_ll)
    return Tau2Estimate(
        np.where(better, second.tau2, first.tau2),
        np.where(better, second.converged, first.converged),
        np.where(retry, first.iterations + second.iterations, first.iterations),
    )


def _iterate(
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
    """Fisher scoring (REML) or Newton (PM) from ``start`` for the ``candidates`` sets."""
    if method is Tau2Method.REML:
        return _reml_scoring(sets, y, v, k, start, candidates, max_iter, tol)
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
            score_part = expansion.sum(w * w * residual2)
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


def _reml_state(
    expansion: Expansion, y: FloatArray, v: FloatArray, tau2: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Restricted log-likelihood and the step towards its maximum per set at ``tau2``.

    With rᵢ = yᵢ − θ̂, the score is ½(y'PPy − tr P) = ½(Σwᵢ²rᵢ² − tr P); the expected
    information ½tr(P²) gives the Fisher-scoring step (Viechtbauer 2005) and the observed
    information y'PPPy − ½tr(P²), y'PPPy = Σwᵢ³rᵢ² − (Σwᵢ²rᵢ)²/Σw, the Newton step. Newton
    is taken where the likelihood is locally concave (observed information > 0), since
    scoring oscillates where the expected information understates the curvature; else
    scoring. Log-likelihood as in :func:`reml_loglik`. Sets without pairs give NaN.
    """
    rows, owner = expansion.rows, expansion.owner
    ye = y[rows]
    total = v[rows] + tau2[owner]
    w = 1.0 / total
    w2 = w * w
    with np.errstate(divide="ignore", invalid="ignore"):
        k = expansion.sum(np.ones_like(w))
        sum_w = expansion.sum(w)
        theta = expansion.sum(w * ye) / sum_w
        residual2 = (ye - theta[owner]) ** 2
        sum_w2 = expansion.sum(w2)
        sum_w3 = expansion.sum(w2 * w)
        trace_p = sum_w - sum_w2 / sum_w
        trace_pp = sum_w2 - 2.0 * sum_w3 / sum_w + (sum_w2 / sum_w) ** 2
        score = expansion.sum(w2 * residual2) - trace_p  # twice the score
        weighted_residual = expansion.sum(w2 * (ye - theta[owner]))
        observed = (expansion.sum(w2 * w * residual2) - weighted_residual**2 / sum_w
                    - 0.5 * trace_pp)
        step = np.where(observed > 0.0, 0.5 * score / observed, score / trace_pp)
        loglik = -0.5 * ((k - 1.0) * np.log(2.0 * np.pi) - np.log(k)
                         + expansion.sum(np.log(total)) + np.log(sum_w)
                         + expansion.sum(w * residual2))
    return loglik, step


# Step halvings tried before a scoring step is given up as making no ascent.
MAX_HALVINGS = 60


def _reml_scoring(
    sets: MemberSets,
    y: FloatArray,
    v: FloatArray,
    k: FloatArray,
    start: FloatArray,
    candidates: BoolArray,
    max_iter: int,
    tol: float,
) -> Tau2Estimate:
    """REML by Newton steps where the likelihood is concave (else Fisher scoring), with
    step halving, so the likelihood never falls.

    Plain Fisher scoring can overshoot: where the expected information understates the
    curvature the iterates oscillate around the maximum, and can diverge (a 19-study set
    swung between τ² ≈ 0.0003 and 0.0008 with growing amplitude for 20,000 iterations;
    metafor stops there with "did not converge"). Newton steps converge near the
    maximum; further out, a step that lowers the restricted likelihood is halved until
    it does not (metafor's ``stepadj`` remedy). A step below τ² = 0 is projected onto 0
    first, which is the boundary maximum when the score is negative there.
    """
    n_sets = len(k)
    tau2 = np.where(candidates, start, 0.0)
    converged = ~candidates
    iterations = np.zeros(n_sets, dtype=np.intp)
    active = candidates.copy()
    expansion = sets.expand(candidates)
    loglik, step = _reml_state(expansion, y, v, tau2)
    for iteration in range(1, max_iter + 1):
        if not active.any():
            break
        # Converged sets stop costing work once they are the majority of the pairs.
        if len(expansion.rows) and active[expansion.owner].mean() < 0.5:
            expansion = expansion.restricted_to(active)
        step = np.where(active, np.nan_to_num(step, nan=0.0), 0.0)
        proposal = np.maximum(0.0, tau2 + step)
        new_loglik, new_step = _reml_state(expansion, y, v, proposal)
        slack = 1e-13 * (1.0 + np.abs(loglik))  # rounding of the sums
        with np.errstate(invalid="ignore"):
            worse = active & (new_loglik < loglik - slack)
        for _ in range(MAX_HALVINGS):
            if not worse.any():
                break
            step = np.where(worse, step / 2.0, step)
            proposal = np.where(worse, np.maximum(0.0, tau2 + step), proposal)
            retried_loglik, retried_step = _reml_state(expansion.restricted_to(worse), y, v, proposal)
            new_loglik = np.where(worse, retried_loglik, new_loglik)
            new_step = np.where(worse, retried_step, new_step)
            with np.errstate(invalid="ignore"):
                worse = worse & (new_loglik < loglik - slack)
        change = np.abs(proposal - tau2)
        tau2 = np.where(active, proposal, tau2)
        loglik = np.where(active, new_loglik, loglik)
        step = np.where(active, new_step, step)
        iterations = np.where(active, iteration, iterations)
        # Relative criterion as for Paule–Mandel; a step of exactly 0 (the boundary) is
        # converged too.
        done = active & (change <= tol * proposal)
        converged = converged | done
        active = active & ~done
    return Tau2Estimate(tau2, converged, iterations)
