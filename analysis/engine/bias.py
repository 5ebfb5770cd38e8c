"""Small-study effects: Egger's regression test and funnel plot frames.

Computed whenever k ≥ 3 (Egger needs k − 2 ≥ 1 df); whether to *show* them (the
Cochrane Handbook, section 13.3.5.4, advises k ≥ 10) is the pages' decision.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.special import stdtr

from .results import EggerArrays, FunnelArrays
from .study_sets import Layout

FloatArray = NDArray[np.float64]


def egger_test(layout: Layout, y: FloatArray, se: FloatArray, min_k: int = 3) -> EggerArrays:
    """Egger et al. (1997) regression test for funnel plot asymmetry, per analysis.

    Ordinary least squares of the standard normal deviate θᵢ/SEᵢ on the precision
    1/SEᵢ; the intercept b₀ is tested with t = b₀/SE(b₀) on k − 2 df, where
    SE(b₀)² = s²(1/k + x̄²/Sxx) and s² = RSS/(k − 2). Equivalent to metafor
    ``regtest(model="lm", predictor="sei")`` (its test statistic and P).

    Parameters
    ----------
    layout
        Estimable rows sorted by analysis.
    y, se
        Effects and standard errors of the layout rows.
    min_k
        Analyses with fewer studies, or with all SEs equal (no regression to fit), get
        NaN.
    """
    n_an = layout.n_analyses
    a = layout.analysis
    x = 1.0 / se
    z = y / se
    k = layout.count.astype(np.float64)

    def per_analysis(values: FloatArray) -> FloatArray:
        return np.bincount(a, weights=values, minlength=n_an)

    with np.errstate(divide="ignore", invalid="ignore"):
        x_mean = per_analysis(x) / k
        z_mean = per_analysis(z) / k
        dx = x - x_mean[a]
        sxx = per_analysis(dx * dx)
        sxz = per_analysis(dx * (z - z_mean[a]))
        slope = sxz / sxx
        intercept = z_mean - slope * x_mean
        residual = z - intercept[a] - slope[a] * x
        df = k - 2.0
        s2 = per_analysis(residual * residual) / df
        se_intercept = np.sqrt(s2 * (1.0 / k + x_mean**2 / sxx))
        t = intercept / se_intercept
        p = 2.0 * stdtr(np.maximum(df, 1.0), -np.abs(t))
    # With every SE equal the regression has no slope to fit; Sxx is then only the
    # rounding residue of x − x̄ (~1e-30), which gave SE(b₀) ~ 1e15 instead of "no test".
    x_low = np.full(n_an, np.inf)
    x_high = np.full(n_an, -np.inf)
    if layout.n_rows:
        np.fmin.at(x_low, a, x)
        np.fmax.at(x_high, a, x)
    ok = (k >= min_k) & (sxx > 0.0) & (x_high > x_low)
    nan = np.nan
    return EggerArrays(
        intercept=np.where(ok, intercept, nan),
        se=np.where(ok, se_intercept, nan),
        t=np.where(ok, t, nan),
        df=np.where(ok, df, nan),
        p=np.where(ok, p, nan),
        slope=np.where(ok, slope, nan),
    )


def funnel_frames(layout: Layout, se: FloatArray, fixed_estimate: FloatArray) -> FunnelArrays:
    """Funnel plot frame per analysis: centre (fixed estimate) and the largest SE.

    The pseudo-95% limits are the lines centre ± z·SE for SE from 0 to ``se_max``
    (Sterne & Egger 2001); study points are the studies' own (effect, SE).
    """
    se_max = np.full(layout.n_analyses, np.nan)
    if layout.n_rows:
        np.fmax.at(se_max, layout.analysis, se)
    return FunnelArrays(centre=fixed_estimate.copy(), se_max=se_max)
