"""Outlying studies: studentized deleted residuals of a random-effects meta-analysis.

The plausibility check at data entry (``studies.services.plausibility``) holds a study whose effect
lies far from all the others; this is its yardstick, as metafor's ``rstudent()`` computes it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


FloatArray = NDArray[np.float64]


def _tau2_dersimonian_laird_exact(q: float, df: float, w: FloatArray) -> float:
    """DerSimonian–Laird τ² with its denominator Σw − Σw²/Σw written as Σᵢ wᵢ·(Σ_{j≠i} wⱼ)/Σw, each
    sum of the others added up, not subtracted from the total. The textbook form (RevMan's, metafor's,
    ``tau2_dersimonian_laird``) cancels catastrophically when one weight dwarfs the rest: one study
    with an SE of 1e-12 among SEs near 0.1 made τ² 0 and every other study an outlier. For
    ordinary data the two agree to rounding (metafor's rstudent to 1e-9 in the tests)."""
    if df < 1:
        return 0.0
    others = np.array([np.sum(np.delete(w, i)) for i in range(len(w))])
    scale = np.sum(w * others) / np.sum(w)
    return max(0.0, (q - df) / scale) if scale > 0 else 0.0


def studentized_deleted_residuals(y: ArrayLike, v: ArrayLike) -> FloatArray:
    """Each study's distance from the pooled effect of all the others, in standard deviations.

    For study i the DerSimonian–Laird random-effects model is fitted without it, giving μ₋ᵢ, its
    variance Var(μ₋ᵢ) and τ²₋ᵢ; then zᵢ = (yᵢ − μ₋ᵢ) / sqrt(vᵢ + τ²₋ᵢ + Var(μ₋ᵢ))
    (Viechtbauer & Cheung 2010, "Outlier and influence diagnostics for meta-analysis", Res Synth
    Methods 1:112–125, eq. 12; metafor ``rstudent(rma(yi, vi, method = "DL"))``).

    Parameters
    ----------
    y, v
        Study effects (log scale for ratios) and their variances; at least 3 studies, so that each
        leave-one-out fit has 2.

    Returns
    -------
    ndarray
        z per study, NaN where it cannot be computed (fewer than 3 studies).
    """
    y = np.asarray(y, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    k = len(y)
    z = np.full(k, np.nan)
    if k < 3:
        return z
    for i in range(k):
        keep = np.arange(k) != i
        yi, vi = y[keep], v[keep]
        w = 1.0 / vi
        fixed = np.sum(w * yi) / np.sum(w)
        q = np.sum(w * (yi - fixed) ** 2)
        tau2 = _tau2_dersimonian_laird_exact(q, k - 2.0, w)
        w_random = 1.0 / (vi + tau2)
        mu = np.sum(w_random * yi) / np.sum(w_random)
        var_mu = 1.0 / np.sum(w_random)
        z[i] = (y[i] - mu) / np.sqrt(v[i] + tau2 + var_mu)
    return z
