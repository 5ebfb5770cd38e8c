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

    @property
    @abstractmethod
    def row_group(self) -> IntArray:
        """Group of each row: every set draws its rows from one group (its analysis or
        its own segment), so a value given per group, such as a trial τ², is a per-row
        value that :meth:`static_sum` can sum for every set at once."""

    @property
    @abstractmethod
    def set_group(self) -> IntArray:
        """Group of each set (see :attr:`row_group`)."""

    def random_moments(
        self,
        y: FloatArray,
        v: FloatArray,
        tau2: FloatArray,
        active: NDArray[np.bool_],
        spread: bool,
    ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        """Random-effects sums of the ``active`` sets, wᵢ = 1/(vᵢ + τ²_set).

        Returns Σw, θ* = Σwy/Σw and, when ``spread`` is true, Σw(y − θ*)² (the
        Hartung–Knapp numerator). Entries of inactive sets are meaningless.
        """
        expansion = self.expand(active)
        rows, owner = expansion.rows, expansion.owner
        ye = y[rows]
        w = 1.0 / (v[rows] + tau2[owner])
        sum_w = expansion.sum(w)
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = expansion.sum(w * ye) / sum_w
        if not spread:
            return sum_w, theta, None
        return sum_w, theta, expansion.sum(w * (ye - theta[owner]) ** 2)


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

    @property
    def row_group(self) -> IntArray:
        return self.row_set

    @property
    def set_group(self) -> IntArray:
        return np.arange(self.n_sets, dtype=np.intp)

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

    @property
    def row_group(self) -> IntArray:
        return self.layout.analysis

    @property
    def set_group(self) -> IntArray:
        return self.layout.analysis  # set i is built from row i's analysis

    def centred_q(
        self, w: FloatArray, y: FloatArray, theta: FloatArray, sum_w: FloatArray
    ) -> FloatArray:
        centre = self.analysis_theta[self.layout.analysis]
        about_analysis = self.static_sum(w * (y - centre) ** 2)
        with np.errstate(invalid="ignore"):
            shift = np.where(sum_w > 0, sum_w * (theta - centre) ** 2, 0.0)
        return np.maximum(about_analysis - shift, 0.0)

    def _zero_non_members(self, weights: FloatArray) -> None:
        """Zero weights[m, i, j] where row j is not in set i (padded analysis block)."""
        raise NotImplementedError

    def random_moments(
        self,
        y: FloatArray,
        v: FloatArray,
        tau2: FloatArray,
        active: NDArray[np.bool_],
        spread: bool,
    ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        # Every set of an analysis draws on the same k rows, so the k × k weights
        # 1/(v_j + τ²_i) of an analysis form a dense block: built by broadcasting and
        # reduced with one batched matrix product, with no index arrays of size Σk².
        # Analyses are grouped by size (padded to a geometric grid of widths, rows of
        # weight 0) so that one block shape serves many analyses.
        layout = self.layout
        n_rows = layout.n_rows
        sum_w = np.zeros(n_rows)
        first = np.zeros(n_rows)
        second = np.zeros(n_rows)
        centre = self.analysis_theta
        wanted = np.bincount(layout.analysis[active], minlength=layout.n_analyses) > 0
        widths = _padded_width(layout.count)
        for width in np.unique(widths[wanted]):
            analyses = np.flatnonzero(wanted & (widths == width))
            # Bound a block stack to ~4 million weights (32 MB).
            per_chunk = max(1, 4_000_000 // int(width) ** 2)
            for chunk in range(0, len(analyses), per_chunk):
                block = analyses[chunk:chunk + per_chunk]
                position = np.arange(layout.count[block].max())  # no padding if all equal
                member = position < layout.count[block][:, None]
                index = np.where(member, layout.start[block][:, None] + position, 0)
                v_block = np.where(member, v[index], np.inf)
                deviation = np.where(member, y[index] - centre[block][:, None], 0.0)
                tau2_block = np.where(member, tau2[index], 0.0)
                # In place: one k × k temporary per block instead of two.
                weights = np.add(tau2_block[:, :, None], v_block[:, None, :])
                np.reciprocal(weights, out=weights)
                self._zero_non_members(weights)
                columns = [np.ones_like(deviation), deviation]
                if spread:
                    columns.append(deviation * deviation)
                moments = weights @ np.stack(columns, axis=2)
                rows = index[member]
                sum_w[rows] = moments[..., 0][member]
                first[rows] = moments[..., 1][member]
                if spread:
                    second[rows] = moments[..., 2][member]
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = first / sum_w
            theta = centre[layout.analysis] + shift
            if not spread:
                return sum_w, theta, None
            # Σw(y − θ)² = Σw(y − c)² − Σw·(θ − c)², c the analysis estimate.
            return sum_w, theta, np.maximum(second - first * shift, 0.0)


def _padded_width(count: IntArray) -> IntArray:
    """Block width for analyses of ``count`` rows: rounded up to a step of 1/8 of the
    count's power of two (at least 4), so padding wastes at most ~12% of a block's
    width while analyses of similar size share one block shape."""
    count = np.maximum(count, 1)
    octave = np.floor(np.log2(count)).astype(np.intp)
    step = np.maximum(4, 2 ** np.maximum(octave - 3, 0))
    return (-(-count // step) * step).astype(np.intp)


class LeaveOneOutSets(_NestedSets):
    """Set i = the analysis of row i without row i."""

    def _zero_non_members(self, weights: FloatArray) -> None:
        width = weights.shape[-1]
        weights.reshape(len(weights), width * width)[:, :: width + 1] = 0.0  # the diagonal

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

    def _zero_non_members(self, weights: FloatArray) -> None:
        width = weights.shape[-1]
        weights *= np.tri(width, dtype=bool)  # keep j <= i

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
