"""Which studies make up each pooled set, and sums over those sets without Python loops.

A review is passed to the engine as flat arrays: every estimable study of every
analysis, sorted so that each analysis is one contiguous run (:class:`Layout`). Every
pooled result the engine reports is a pool over some *set* of those rows:

* :class:`SegmentSets` — an analysis, or a subgroup within an analysis;
* :class:`LeaveOneOutSets` — an analysis without one of its studies;
* :class:`PrefixSets` — the first m studies of an analysis (cumulative meta-analysis).

Pooling needs two kinds of sums per set. *Static* sums of per-study values (Σw,
Σwθ, Mantel–Haenszel terms) have closed forms for every kind of set: ``np.bincount``
for segments, total minus the omitted study for leave-one-out, running sums for
prefixes — all O(N). Sums whose summands depend on the set itself (random-effects
weights 1/(vᵢ + τ²) with the set's own τ²) have no such shortcut; for those a set is
*expanded* into (member row, set) pairs and summed with one ``np.bincount``, O(Σ set
sizes), and only for the sets that need it (e.g. those with τ² > 0).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class Layout:
    """Estimable study rows sorted by analysis, each analysis a contiguous run.

    Attributes
    ----------
    analysis
        Analysis index (0 … n_analyses − 1) of each sorted row.
    start, count
        First row and number of rows of each analysis (count 0 for an analysis with
        no estimable study).
    """

    analysis: IntArray
    start: IntArray
    count: IntArray

    @property
    def n_analyses(self) -> int:
        return len(self.start)

    @property
    def n_rows(self) -> int:
        return len(self.analysis)

    @property
    def position(self) -> IntArray:
        """Position of each row within its analysis (0-based)."""
        return np.arange(self.n_rows) - self.start[self.analysis]

    @classmethod
    def from_sorted(cls, analysis: IntArray, n_analyses: int) -> Layout:
        """Build from analysis ids that are already sorted ascending."""
        count = np.bincount(analysis, minlength=n_analyses).astype(np.intp)
        start = np.concatenate(([0], np.cumsum(count)[:-1])).astype(np.intp)
        return cls(np.asarray(analysis, dtype=np.intp), start, count)


@dataclass(frozen=True)
class Expansion:
    """Member rows of some sets, listed as (row, owning set) pairs."""

    rows: IntArray
    owner: IntArray
    n_sets: int

    def sum(self, values: FloatArray) -> FloatArray:
        """Per-set sum of per-pair ``values`` (0 for sets without pairs)."""
        return np.bincount(self.owner, weights=values, minlength=self.n_sets)

    def restricted_to(self, keep: NDArray[np.bool_]) -> Expansion:
        """The same pairs limited to the sets where ``keep`` is true."""
        mask = keep[self.owner]
        return Expansion(self.rows[mask], self.owner[mask], self.n_sets)


def _repeat_ranges(owners: IntArray, counts: IntArray) -> tuple[IntArray, IntArray]:
    """For each owner o with count c, yield pairs (o, t) for t = 0 … c − 1."""
    total = int(counts.sum())
    owner = np.repeat(owners, counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    return owner, np.arange(total, dtype=np.intp) - first


class MemberSets(ABC):
    """A family of study sets to pool, defined over the rows of a :class:`Layout`."""

    n_sets: int

    @abstractmethod
    def static_sum(self, values: FloatArray) -> FloatArray:
        """Per-set sum of per-row ``values`` (values that do not depend on the set)."""

    @abstractmethod
    def centred_q(
        self, w: FloatArray, y: FloatArray, theta: FloatArray, sum_w: FloatArray
    ) -> FloatArray:
        """Per-set Σ wᵢ(yᵢ − θ_set)², computed without catastrophic cancellation."""

    @abstractmethod
    def expand(self, active: NDArray[np.bool_]) -> Expansion:
        """(row, set) pairs of the sets where ``active`` is true."""


class SegmentSets(MemberSets):
    """Disjoint sets: each row belongs to exactly one set (an analysis or a subgroup)."""

    def __init__(self, row_set: IntArray, n_sets: int) -> None:
        self.row_set = np.asarray(row_set, dtype=np.intp)
        self.n_sets = n_sets

    def static_sum(self, values: FloatArray) -> FloatArray:
        return np.bincount(self.row_set, weights=values, minlength=self.n_sets)

    def centred_q(
        self, w: FloatArray, y: FloatArray, theta: FloatArray, sum_w: FloatArray
    ) -> FloatArray:
        # Two-pass: residuals about each set's own estimate.
        return self.static_sum(w * (y - theta[self.row_set]) ** 2)

    def expand(self, active: NDArray[np.bool_]) -> Expansion:
        if active.all():
            rows = np.arange(len(self.row_set), dtype=np.intp)
        else:
            rows = np.flatnonzero(active[self.row_set])
        return Expansion(rows, self.row_set[rows], self.n_sets)


class _NestedSets(MemberSets):
    """Sets nested in analyses (leave-one-out, prefixes): one set per study row.

    Q is centred on the *analysis* estimate θₐ and shifted to the set's own estimate
    with the identity Σ w(y − θ)² = Σ w(y − θₐ)² − Σw·(θ − θₐ)², which keeps the
    static sums well conditioned.
    """

    def __init__(self, layout: Layout, analysis_theta: FloatArray) -> None:
        self.layout = layout
        self.analysis_theta = analysis_theta
        self.n_sets = layout.n_rows
        self._position = layout.position

    def centred_q(
        self, w: FloatArray, y: FloatArray, theta: FloatArray, sum_w: FloatArray
    ) -> FloatArray:
        centre = self.analysis_theta[self.layout.analysis]
        about_analysis = self.static_sum(w * (y - centre) ** 2)
        with np.errstate(invalid="ignore"):
            shift = np.where(sum_w > 0, sum_w * (theta - centre) ** 2, 0.0)
        return np.maximum(about_analysis - shift, 0.0)


class LeaveOneOutSets(_NestedSets):
    """Set i = the analysis of row i without row i."""

    def static_sum(self, values: FloatArray) -> FloatArray:
        totals = np.bincount(
            self.layout.analysis, weights=values, minlength=self.layout.n_analyses
        )
        return totals[self.layout.analysis] - values

    def expand(self, active: NDArray[np.bool_]) -> Expansion:
        owners = np.flatnonzero(active)
        analysis = self.layout.analysis[owners]
        counts = self.layout.count[analysis] - 1
        owner, t = _repeat_ranges(owners, counts)
        # Member t of set i skips row i itself: rows start … start+k−1 except i.
        skip = (t >= self._position[owner]).astype(np.intp)
        rows = self.layout.start[self.layout.analysis[owner]] + t + skip
        return Expansion(rows, owner, self.n_sets)


class PrefixSets(_NestedSets):
    """Set i = rows of the analysis of row i up to and including row i."""

    def static_sum(self, values: FloatArray) -> FloatArray:
        # Running sums within each analysis, computed on a padded (analysis × position)
        # grid so that one analysis's sum never carries another's rounding error.
        layout = self.layout
        width = int(layout.count.max(initial=0))
        grid = np.zeros((layout.n_analyses, max(width, 1)))
        grid[layout.analysis, self._position] = values
        np.cumsum(grid, axis=1, out=grid)
        return grid[layout.analysis, self._position]

    def expand(self, active: NDArray[np.bool_]) -> Expansion:
        owners = np.flatnonzero(active)
        owner, t = _repeat_ranges(owners, self._position[owners] + 1)
        rows = self.layout.start[self.layout.analysis[owner]] + t
        return Expansion(rows, owner, self.n_sets)
