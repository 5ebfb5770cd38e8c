"""Subgroup analyses and the test for subgroup differences.

Each subgroup is pooled on its own (its own τ² in the random-effects model, as in
RevMan 5 and R ``meta`` with ``tau.common = FALSE``); the test for subgroup
differences is Cochran's Q across the J subgroup estimates with weights 1/SEⱼ²,
df = J − 1 (Deeks & Higgins 2010; Borenstein & Higgins 2013).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .heterogeneity import i_squared, q_test_p
from .results import EstimateArrays, SubgroupTestArrays

IntArray = NDArray[np.intp]


def subgroup_keys(
    analysis: IntArray, subgroup: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """Dense ids for the (analysis, subgroup) pairs present in the rows.

    Returns
    -------
    pair_of_row, pair_analysis, pair_subgroup
        Pair id of every row, and the analysis and subgroup key of every pair; pairs
        are numbered in (analysis, subgroup) order.
    """
    if (subgroup < 0).any():
        raise ValueError("subgroup keys must be non-negative integers")
    width = int(subgroup.max(initial=0)) + 1
    combined = analysis.astype(np.int64) * width + subgroup
    pairs, pair_of_row = np.unique(combined, return_inverse=True)
    return (
        pair_of_row.astype(np.intp),
        (pairs // width).astype(np.intp),
        (pairs % width).astype(np.intp),
    )


def test_subgroup_differences(
    estimates: EstimateArrays, pair_analysis: IntArray, n_analyses: int
) -> SubgroupTestArrays:
    """Test for subgroup differences in every analysis at once.

    Parameters
    ----------
    estimates
        Pooled estimate of each (analysis, subgroup) pair under one model.
    pair_analysis
        Analysis of each pair.
    n_analyses
        Number of analyses.

    Returns
    -------
    SubgroupTestArrays
        Q = Σ wⱼ(θⱼ − θ̄)², wⱼ = 1/SEⱼ², df = J − 1, P from χ², I² in percent, and
        J itself; NaN for analyses with fewer than two estimable subgroups, where the
        test is not applicable (RevMan prints "Not applicable").
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        usable = np.isfinite(estimates.estimate) & np.isfinite(estimates.se) & (estimates.se > 0)
        w = np.where(usable, 1.0 / estimates.se**2, 0.0)
        theta = np.where(usable, estimates.estimate, 0.0)
        count = np.bincount(pair_analysis, weights=usable.astype(float), minlength=n_analyses)
        sum_w = np.bincount(pair_analysis, weights=w, minlength=n_analyses)
        mean = np.bincount(pair_analysis, weights=w * theta, minlength=n_analyses) / sum_w
        q = np.bincount(
            pair_analysis, weights=w * (theta - mean[pair_analysis]) ** 2, minlength=n_analyses
        )
    tested = count >= 2
    df = np.where(tested, count - 1.0, np.nan)
    return SubgroupTestArrays(
        q=np.where(tested, q, np.nan),
        df=df,
        p=np.where(tested, q_test_p(q, df), np.nan),
        i2=np.where(tested, i_squared(q, df), np.nan),
        subgroups=count.round().astype(np.intp),
    )
