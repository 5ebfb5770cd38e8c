"""Analyse every analysis of a review in one vectorised pass.

The living pipeline re-analyses every outcome × subgroup × sensitivity set of a
review whenever its data change. :func:`analyse_batch` takes all the review's study
rows at once — flat arrays plus an integer analysis id per row — and computes
everything with sorted segments and ``np.bincount``; :func:`analyse` is the
one-analysis convenience, implemented through the batch path.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .bias import egger_test, funnel_frames
from .direction import Direction
from .effect_sizes import MantelHaenszelTerms, StudyData, StudyEffects, study_effects
from .options import AnalysisOptions, ModelRule, PoolingMethod
from .pooling import normal_quantile, pool_sets
from .results import (
    AnalysisResult,
    BatchResult,
    NestedArrays,
    PooledArrays,
    StudyArrays,
    SubgroupArrays,
)
from .sensitivity import cumulative, leave_one_out
from .study_sets import Layout, SegmentSets
from .subgroups import subgroup_keys, test_subgroup_differences

IntArray = NDArray[np.intp]


def _int_array(values: ArrayLike, name: str, length: int) -> IntArray:
    array = np.asarray(values)
    if array.shape != (length,):
        raise ValueError(f"{name} must have one entry per study row ({length})")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        as_int = array.astype(np.intp)
        if not np.array_equal(as_int, array):
            raise ValueError(f"{name} must hold integers")
        array = as_int
    return array.astype(np.intp)


def _directions(
    directions: Direction | str | Sequence[Direction | str], n_analyses: int
) -> tuple[Direction, ...]:
    if isinstance(directions, (str, Direction)):
        return (Direction(directions),) * n_analyses
    result = tuple(Direction(d) for d in directions)
    if len(result) != n_analyses:
        raise ValueError(f"need one direction per analysis ({n_analyses}), got {len(result)}")
    return result


def analyse_batch(
    data: StudyData,
    analysis: ArrayLike,
    *,
    options: AnalysisOptions,
    n_analyses: int | None = None,
    subgroup: ArrayLike | None = None,
    order: ArrayLike | None = None,
    directions: Direction | str | Sequence[Direction | str] = Direction.HIGHER_IS_BETTER,
) -> BatchResult:
    """Run many meta-analyses that share options, in one vectorised pass.

    Parameters
    ----------
    data
        Study rows of every analysis: :class:`~.effect_sizes.ContinuousArms`,
        :class:`~.effect_sizes.DichotomousArms` or
        :class:`~.effect_sizes.GenericEstimates`, matching ``options.measure``.
    analysis
        Integer analysis id (0 … n_analyses − 1) of each row. Rows need not be
        sorted or grouped.
    options
        Measure, pooling method, τ² estimator, model rule, HKSJ and level, shared by
        all analyses of the call (group analyses by options and call once per group).
    n_analyses
        Number of analyses; defaults to max(analysis) + 1. Analyses without rows get
        empty (NaN) results.
    subgroup
        Optional non-negative integer subgroup key per row. When given, every
        analysis is also pooled per subgroup and tested for subgroup differences.
    order
        Optional sort key per row (e.g. publication year) for the cumulative
        meta-analysis; ties keep input order. Without it no cumulative analysis is
        computed. Studies and leave-one-out rows are always listed in input order.
    directions
        Outcome direction, one for all analyses or one per analysis.

    Returns
    -------
    BatchResult
        Read-only arrays for every study, analysis, subgroup and leave-one-out set;
        ``.analysis(i)`` gives the scalar view of analysis ``i``.

    Notes
    -----
    Formulas: :func:`~.effect_sizes.study_effects` (per study),
    :func:`~.pooling.pool_sets` (pooling, heterogeneity, τ², HKSJ, prediction),
    :func:`~.subgroups.test_subgroup_differences`, :func:`~.bias.egger_test`.
    """
    n_rows = len(data)
    analysis_ids = _int_array(analysis, "analysis", n_rows)
    if analysis_ids.size and analysis_ids.min() < 0:
        raise ValueError("analysis ids must be non-negative")
    if n_analyses is None:
        n_analyses = int(analysis_ids.max(initial=-1)) + 1
    elif analysis_ids.size and analysis_ids.max() >= n_analyses:
        raise ValueError(f"analysis id {analysis_ids.max()} >= n_analyses {n_analyses}")
    direction_tuple = _directions(directions, n_analyses)

    effects = study_effects(data, options.measure)
    # Studies are listed in input order; the pooling layout follows the cumulative
    # order when one is given (it only matters for the cumulative analysis).
    study_order = np.argsort(analysis_ids, kind="stable")
    if order is None:
        order_key = None
        layout_order = study_order
    else:
        order_key = np.asarray(order, dtype=np.float64)
        if order_key.shape != (n_rows,):
            raise ValueError(f"order must have one entry per study row ({n_rows})")
        if np.isnan(order_key).any():
            raise ValueError("order must not contain NaN")
        layout_order = np.lexsort((np.arange(n_rows), order_key, analysis_ids))
    study_start = np.concatenate(
        ([0], np.cumsum(np.bincount(analysis_ids, minlength=n_analyses))[:-1])
    ).astype(np.intp)

    # The layout: estimable rows only, sorted by analysis (then by order).
    rows = layout_order[effects.estimable[layout_order]]
    layout = Layout.from_sorted(analysis_ids[rows], n_analyses)
    y = effects.effect[rows]
    se = effects.se[rows]
    v = se * se
    mh_terms = None
    if options.method is PoolingMethod.MH:
        assert effects.mh_terms is not None  # always set for OR/RR/RD
        mh_terms = MantelHaenszelTerms(options.measure, effects.mh_terms.terms[:, rows])

    overall = pool_sets(SegmentSets(layout.analysis, n_analyses), y, v, options, mh_terms)

    z = normal_quantile(options.level)
    # Study CIs at their own level when the analysis keeps one (RevMan's CI_STUDY).
    z_study = normal_quantile(options.study_level) if options.study_level is not None else z
    studies = _study_arrays(
        effects, analysis_ids, subgroup, rows, layout, v, mh_terms, overall, z_study, n_rows
    )

    if options.model_rule is ModelRule.FIXED:
        chosen_random = np.zeros(n_analyses, dtype=bool)
    elif options.model_rule is ModelRule.RANDOM:
        chosen_random = np.ones(n_analyses, dtype=bool)
    else:
        # I² is NaN (not applicable) for a single study: that is fixed effect, never
        # "random" by a comparison that a rounding residue could win.
        i2 = overall.heterogeneity.i2
        applicable = np.isfinite(i2)
        chosen_random = applicable & (np.where(applicable, i2, 0.0) >= options.i2_threshold)

    subgroups = test_fixed = test_random = None
    if subgroup is not None:
        subgroup_ids = studies.subgroup
        pair_of_row, pair_analysis, pair_subgroup = subgroup_keys(analysis_ids, subgroup_ids)
        n_pairs = len(pair_analysis)
        pooled = pool_sets(SegmentSets(pair_of_row[rows], n_pairs), y, v, options, mh_terms)
        subgroups = SubgroupArrays(pair_analysis, pair_subgroup, pooled)
        test_fixed = test_subgroup_differences(pooled.fixed, pair_analysis, n_analyses)
        test_random = test_subgroup_differences(pooled.random, pair_analysis, n_analyses)

    centre = overall.fixed.estimate
    loo = NestedArrays(
        layout.analysis.copy(), rows.copy(),
        leave_one_out(layout, y, v, options, centre, mh_terms),
    )
    cumulative_arrays = None
    if order_key is not None:
        cumulative_arrays = NestedArrays(
            layout.analysis.copy(), rows.copy(),
            cumulative(layout, y, v, options, centre, mh_terms),
        )

    chosen_random.flags.writeable = False
    study_order.flags.writeable = False
    study_start.flags.writeable = False
    return BatchResult(
        options=options,
        directions=direction_tuple,
        studies=studies,
        overall=overall,
        chosen_random=chosen_random,
        subgroups=subgroups,
        subgroup_test_fixed=test_fixed,
        subgroup_test_random=test_random,
        leave_one_out=loo,
        cumulative=cumulative_arrays,
        egger=egger_test(layout, y, se, options.egger_min_k),
        funnel=funnel_frames(layout, se, overall.fixed.estimate),
        z=z,
        study_order=study_order,
        study_start=study_start,
    )


def _study_arrays(
    effects: StudyEffects,
    analysis_ids: IntArray,
    subgroup: ArrayLike | None,
    rows: IntArray,
    layout: Layout,
    v: NDArray[np.float64],
    mh_terms: MantelHaenszelTerms | None,
    overall: PooledArrays,
    z: float,
    n_rows: int,
) -> StudyArrays:
    """Per-study CIs and percentage weights under both models, in input order."""
    a = layout.analysis
    weight_fixed = np.zeros(n_rows)
    weight_random = np.zeros(n_rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        if mh_terms is not None:
            raw_fixed = mh_terms.terms[mh_terms.weight_row]
        else:
            raw_fixed = 1.0 / v
        weight_fixed[rows] = 100.0 * raw_fixed / overall.sum_weights_fixed[a]
        raw_random = 1.0 / (v + overall.heterogeneity.tau2[a])
        weight_random[rows] = 100.0 * raw_random / overall.sum_weights_random[a]
    half_width = z * effects.se
    if subgroup is None:
        subgroup_ids = np.full(n_rows, -1, dtype=np.intp)
    else:
        subgroup_ids = _int_array(subgroup, "subgroup", n_rows)
    return StudyArrays(
        analysis=analysis_ids,
        subgroup=subgroup_ids,
        effect=effects.effect,
        se=effects.se,
        ci_low=effects.effect - half_width,
        ci_high=effects.effect + half_width,
        weight_fixed=weight_fixed,
        weight_random=weight_random,
        status=effects.status,
        zero_cell_corrected=effects.zero_cell_corrected,
    )


def analyse(
    data: StudyData,
    *,
    options: AnalysisOptions,
    subgroup: ArrayLike | None = None,
    order: ArrayLike | None = None,
    direction: Direction | str = Direction.HIGHER_IS_BETTER,
) -> AnalysisResult:
    """Run one meta-analysis (a thin wrapper over :func:`analyse_batch`).

    Parameters
    ----------
    data
        The analysis's study rows.
    options
        Analysis options.
    subgroup
        Optional integer subgroup key per row.
    order
        Optional cumulative-order key per row (e.g. year).
    direction
        Whether higher outcome values are better.

    Returns
    -------
    AnalysisResult
        Scalar view with studies, both models, heterogeneity, subgroups,
        leave-one-out, cumulative rows, Egger's test and the funnel frame.
    """
    n = len(data)
    batch = analyse_batch(
        data,
        np.zeros(n, dtype=np.intp),
        options=options,
        n_analyses=1,
        subgroup=subgroup,
        order=order,
        directions=direction,
    )
    return batch.analysis(0)
