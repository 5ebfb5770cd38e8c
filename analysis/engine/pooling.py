"""Fixed-effect and random-effects pooling of many study sets at once.

One function, :func:`pool_sets`, pools every set of a :class:`~.study_sets.MemberSets`
family — the analyses of a review, their subgroups, their leave-one-out and
cumulative subsets — with the same formulas, so that a number means the same thing
wherever it is shown.

Sources: Deeks & Higgins (2010), *Statistical algorithms in Review Manager 5*
(inverse variance, Mantel–Haenszel, DerSimonian–Laird, Q and I²); Hartung & Knapp
(2001) and Sidik & Jonkman (2002) for the t-based CI; Higgins, Thompson &
Spiegelhalter (2009) and Riley et al. (2011) for the prediction interval; Viechtbauer
(2005) for REML and Paule–Mandel.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, stdtr, stdtrit
from scipy.stats import norm

from .effect_sizes import MantelHaenszelTerms
from .heterogeneity import (
    Tau2Estimate,
    i_squared,
    q_test_p,
    tau2_dersimonian_laird,
    tau2_iterative,
)
from .options import AnalysisOptions, Measure, PoolingMethod, Tau2Method
from .results import EstimateArrays, HeterogeneityArrays, PooledArrays
from .study_sets import MemberSets

FloatArray = NDArray[np.float64]


@lru_cache(maxsize=32)
def normal_quantile(level: float) -> float:
    """Exact two-sided normal quantile, e.g. 1.959963984540054 for 0.95 (not 1.96)."""
    return float(norm.ppf(0.5 + level / 2.0))


def t_quantile(df: FloatArray, level: float) -> FloatArray:
    """Two-sided t quantile per entry; NaN where df < 1.

    The inverse t CDF is iterative and slow, and a batch has few distinct df values
    (k − 1 or k − 2 per analysis), so it is evaluated once per distinct df.
    """
    usable = df >= 1
    out = np.full(len(df), np.nan)
    if usable.any():
        distinct, inverse = np.unique(df[usable], return_inverse=True)
        out[usable] = stdtrit(distinct, 0.5 + level / 2.0)[inverse]
    return out


def estimate_arrays(
    estimate: FloatArray, se: FloatArray, level: float, df: FloatArray | None = None
) -> EstimateArrays:
    """CI, test statistic and two-sided P for estimates with SEs.

    With ``df`` None the test is z with the exact normal quantile; otherwise t on
    ``df`` degrees of freedom (NaN where df < 1).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = estimate / se
        if df is None:
            crit = normal_quantile(level)
            p = 2.0 * ndtr(-np.abs(statistic))
            df_out = np.full(len(estimate), np.inf)
        else:
            usable = df >= 1
            crit = t_quantile(df, level)
            p = np.where(usable, 2.0 * stdtr(np.where(usable, df, 1.0), -np.abs(statistic)),
                         np.nan)
            df_out = df.astype(np.float64)
        half_width = crit * se
    return EstimateArrays(
        estimate=estimate,
        se=se,
        ci_low=estimate - half_width,
        ci_high=estimate + half_width,
        statistic=statistic,
        p=p,
        df=df_out,
    )


def mantel_haenszel_from_sums(
    measure: Measure, sums: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Mantel–Haenszel estimate and its variance from per-set sums of the MH terms.

    ``sums`` has one row per term of :data:`~.effect_sizes.MH_TERM_NAMES`.

    * OR (Robins, Breslow & Greenland 1986): ln(ΣR/ΣS), variance
      ΣPR/(2(ΣR)²) + Σ(PS + QR)/(2ΣRΣS) + ΣQS/(2(ΣS)²).
    * RR (Greenland & Robins 1985): ln(ΣR/ΣS), variance ΣP/(ΣRΣS).
    * RD (Greenland & Robins 1985): ΣK·RD/ΣK, variance ΣJ/(ΣK)²; K and J of a zero-cell
      study come from its 0.5-corrected cells, as in RevMan 5 (see
      :func:`~.effect_sizes.study_effects`).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure is Measure.OR:
            r, s, pr, ps_qr, qs = sums
            estimate = np.log(r) - np.log(s)
            variance = pr / (2.0 * r * r) + ps_qr / (2.0 * r * s) + qs / (2.0 * s * s)
        elif measure is Measure.RR:
            r, s, p = sums
            estimate = np.log(r) - np.log(s)
            variance = p / (r * s)
        else:
            k_rd, k, j = sums
            estimate = k_rd / k
            variance = j / (k * k)
    return estimate, variance


def pool_sets(
    sets: MemberSets,
    y: FloatArray,
    v: FloatArray,
    options: AnalysisOptions,
    mh_terms: MantelHaenszelTerms | None = None,
) -> PooledArrays:
    """Pool every set of ``sets`` under both models.

    Parameters
    ----------
    sets
        The study sets (analyses, subgroups, leave-one-out or cumulative subsets).
    y, v
        Effect (analysis scale) and variance SE² of each estimable layout row.
    options
        Method, τ² estimator, HKSJ and confidence level.
    mh_terms
        Mantel–Haenszel summands of the layout rows; required when
        ``options.method`` is MH.

    Returns
    -------
    PooledArrays
        One entry per set. Empty sets give NaN estimates and k = 0.

    Notes
    -----
    Fixed effect: inverse variance θ = Σwθᵢ/Σw, SE = 1/sqrt(Σw) with w = 1/SE²; or
    Mantel–Haenszel (see :func:`mantel_haenszel_from_sums`).
    Q = Σwᵢ(θᵢ − θ_F)² with inverse-variance weights about the fixed estimate (the MH
    estimate in MH analyses, as RevMan does); df = k − 1.
    Random effects: wᵢ* = 1/(SEᵢ² + τ²), θ* = Σwᵢ*θᵢ/Σwᵢ*, SE = 1/sqrt(Σwᵢ*); with
    HKSJ, SE² = Σwᵢ*(θᵢ − θ*)²/((k − 1)Σwᵢ*) and t on k − 1 df (metafor
    ``test="knha"``, no truncation). Prediction interval (k ≥ 3):
    θ* ± t_{k−2} sqrt(τ² + SE²), SE as used for the CI (metafor
    ``predict(pi.type="riley")``).
    """
    level = options.level
    w = 1.0 / v
    k = sets.static_sum(np.ones_like(y))
    sum_w = sets.static_sum(w)
    sum_wy = sets.static_sum(w * y)
    sum_w2 = sets.static_sum(w * w)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta_iv = sum_wy / sum_w
    # A set of one study has no heterogeneity: Q is exactly 0 (df = 0), not the rounding
    # residue of Σw(θᵢ − θ)² with θ = wθᵢ/w, which would make I² 100 % and the automatic
    # model rule pick "random" for a single study.
    single = k <= 1.0
    q_iv = np.where(single, 0.0, np.maximum(sets.centred_q(w, y, theta_iv, sum_w), 0.0))
    df = k - 1.0

    if options.method is PoolingMethod.MH:
        if mh_terms is None:
            raise ValueError("Mantel–Haenszel pooling needs mh_terms")
        sums = np.vstack([sets.static_sum(term) for term in mh_terms.terms])
        theta_fixed, var_fixed = mantel_haenszel_from_sums(options.measure, sums)
        sum_weights_fixed = sums[mh_terms.weight_row]
        # Σw(θᵢ − θ_MH)² = Σw(θᵢ − θ_IV)² + Σw(θ_IV − θ_MH)²
        with np.errstate(invalid="ignore"):
            q = q_iv + np.where((sum_w > 0) & ~single, sum_w * (theta_iv - theta_fixed) ** 2, 0.0)
    else:
        theta_fixed = theta_iv
        with np.errstate(divide="ignore"):
            var_fixed = 1.0 / sum_w
        sum_weights_fixed = sum_w
        q = q_iv

    tau2_estimate = _tau2(sets, y, v, k, q, q_iv, df, sum_w, sum_w2, options)
    tau2 = tau2_estimate.tau2

    # Random effects: sets with τ² = 0 reduce to inverse-variance fixed effect, which
    # has closed forms; only sets with τ² > 0 need their members expanded.
    positive = tau2 > 0.0
    sum_w_random = sum_w.copy()
    theta_random = theta_iv.copy()
    q_random = q_iv.copy()  # Σw*(θᵢ − θ*)², for HKSJ
    if positive.any():
        sw, theta, spread = sets.random_moments(y, v, tau2, positive, options.hksj)
        sum_w_random = np.where(positive, sw, sum_w_random)
        theta_random = np.where(positive, theta, theta_random)
        if spread is not None:
            q_random = np.where(positive, spread, q_random)

    with np.errstate(divide="ignore", invalid="ignore"):
        se_fixed = np.sqrt(var_fixed)
        fixed = estimate_arrays(theta_fixed, se_fixed, level)
        if options.hksj:
            # No HKSJ statistic on 0 df (one study): NaN, never 0/0 residue shown as z = 0.00.
            var_random = np.where(df >= 1, q_random / (df * sum_w_random), np.nan)
            random = estimate_arrays(theta_random, np.sqrt(var_random), level, df=df)
        else:
            var_random = 1.0 / sum_w_random
            random = estimate_arrays(theta_random, np.sqrt(var_random), level)
        pi_df = k - 2.0
        has_pi = pi_df >= 1
        pi_half = t_quantile(pi_df, level) * np.sqrt(tau2 + var_random)
    empty = k == 0
    heterogeneity = HeterogeneityArrays(
        q=np.where(empty, np.nan, q),
        df=np.where(empty, np.nan, df),
        p=q_test_p(q, df),
        i2=i_squared(q, df),
        tau2=np.where(empty, np.nan, tau2),
        tau2_converged=tau2_estimate.converged,
        tau2_iterations=tau2_estimate.iterations,
    )
    return PooledArrays(
        k=k.round().astype(np.intp),
        fixed=fixed,
        random=random,
        heterogeneity=heterogeneity,
        prediction_low=np.where(has_pi, theta_random - pi_half, np.nan),
        prediction_high=np.where(has_pi, theta_random + pi_half, np.nan),
        sum_weights_fixed=sum_weights_fixed,
        sum_weights_random=np.where(empty, 0.0, sum_w_random),
    )


def _tau2(
    sets: MemberSets,
    y: FloatArray,
    v: FloatArray,
    k: FloatArray,
    q: FloatArray,
    q_iv: FloatArray,
    df: FloatArray,
    sum_w: FloatArray,
    sum_w2: FloatArray,
    options: AnalysisOptions,
) -> Tau2Estimate:
    n_sets = len(k)
    dl = tau2_dersimonian_laird(q, df, sum_w, sum_w2)
    if options.tau2_method is Tau2Method.DL:
        return Tau2Estimate(dl, np.ones(n_sets, dtype=bool), np.zeros(n_sets, dtype=np.intp))
    if options.tau2_method is Tau2Method.REML:
        candidates = k >= 2
        start = tau2_dersimonian_laird(q_iv, df, sum_w, sum_w2)
    else:
        # Q(0) ≤ k − 1 means the Paule–Mandel root is at the boundary τ² = 0.
        candidates = (k >= 2) & (q_iv > df)
        start = np.zeros(n_sets)
    return tau2_iterative(
        sets, y, v, k, start, candidates, options.tau2_method, options.max_iter, options.tol
    )
