"""Leave-one-out and cumulative meta-analysis.

Both re-run the *whole* analysis (fixed, Q, I², τ², random, HKSJ, prediction
interval) on subsets of studies, through the same :func:`~.pooling.pool_sets` as the
main analysis; only the definition of the subsets differs. Sums that do not depend on
the subset's τ² use closed forms (total minus the omitted study; running sums), so
the fixed-effect and DerSimonian–Laird parts are O(k) per analysis; random-effects
sums with τ² > 0 are inherently O(k²) per analysis and are done as one vectorised
reduction over (member, subset) pairs.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .effect_sizes import MantelHaenszelTerms
from .options import AnalysisOptions
from .pooling import pool_sets
from .results import PooledArrays
from .study_sets import Layout, LeaveOneOutSets, PrefixSets

FloatArray = NDArray[np.float64]


def leave_one_out(
    layout: Layout,
    y: FloatArray,
    v: FloatArray,
    options: AnalysisOptions,
    centre: FloatArray,
    mh_terms: MantelHaenszelTerms | None = None,
) -> PooledArrays:
    """Pool every analysis once without each of its studies.

    Parameters
    ----------
    layout
        Estimable rows sorted by analysis.
    y, v
        Effects and variances of the layout rows.
    options
        Analysis options (same as the main analysis).
    centre
        Any per-analysis value near the pooled estimate (the fixed estimate); Q is
        accumulated about it for numerical stability.
    mh_terms
        Mantel–Haenszel terms of the layout rows, for MH analyses.

    Returns
    -------
    PooledArrays
        Entry i is the analysis of layout row i without that row (k − 1 studies).
    """
    sets = LeaveOneOutSets(layout, np.nan_to_num(centre))
    return pool_sets(sets, y, v, options, mh_terms)


def cumulative(
    layout: Layout,
    y: FloatArray,
    v: FloatArray,
    options: AnalysisOptions,
    centre: FloatArray,
    mh_terms: MantelHaenszelTerms | None = None,
) -> PooledArrays:
    """Cumulative meta-analysis: entry i pools layout rows of its analysis up to i.

    The layout must already be sorted in the cumulative order (e.g. by year) within
    each analysis. Parameters as :func:`leave_one_out`.
    """
    sets = PrefixSets(layout, np.nan_to_num(centre))
    return pool_sets(sets, y, v, options, mh_terms)
