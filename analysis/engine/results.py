"""Result types: columnar arrays for a whole batch, scalar views for one analysis.

A batch call returns a :class:`BatchResult` whose fields are read-only NumPy arrays
(one entry per study, per analysis, per subgroup or per leave-one-out row), so that a
whole review is analysed without building Python objects per number. Pages and the
API ask it for one analysis at a time with :meth:`BatchResult.analysis`, which returns
an :class:`AnalysisResult` made of plain-float frozen dataclasses.

All numbers are on the analysis scale (log for OR and RR); ratio measures also carry
exponentiated copies (``ratio``, ``ratio_ci_low``, ``ratio_ci_high``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .direction import Direction, Favours, ForestLabels, favoured_arm, forest_labels
from .effect_sizes import StudyStatus
from .options import AnalysisOptions, Measure, Model, Tau2Method

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]


def _freeze(*arrays: np.ndarray) -> None:
    for array in arrays:
        array.flags.writeable = False


# --------------------------------------------------------------------------- arrays


@dataclass(frozen=True)
class EstimateArrays:
    """A pooled estimate per set: value, SE, CI, test statistic and P.

    ``df`` is the degrees of freedom of the test (``inf`` for a z test, k − 1 for
    Hartung–Knapp–Sidik–Jonkman).
    """

    estimate: FloatArray
    se: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    statistic: FloatArray
    p: FloatArray
    df: FloatArray

    def __post_init__(self) -> None:
        _freeze(self.estimate, self.se, self.ci_low, self.ci_high,
                self.statistic, self.p, self.df)


@dataclass(frozen=True)
class HeterogeneityArrays:
    """Cochran's Q ("Chi²"), its df and P, I² (percent) and τ² per set."""

    q: FloatArray
    df: FloatArray
    p: FloatArray
    i2: FloatArray
    tau2: FloatArray
    tau2_converged: BoolArray
    tau2_iterations: IntArray

    def __post_init__(self) -> None:
        _freeze(self.q, self.df, self.p, self.i2, self.tau2,
                self.tau2_converged, self.tau2_iterations)


@dataclass(frozen=True)
class PooledArrays:
    """Fixed-effect and random-effects pools of every set of one family.

    ``sum_weights_fixed`` and ``sum_weights_random`` are the weight totals the study
    weights are expressed against (Mantel–Haenszel weights for MH analyses).
    """

    k: IntArray
    fixed: EstimateArrays
    random: EstimateArrays
    heterogeneity: HeterogeneityArrays
    prediction_low: FloatArray
    prediction_high: FloatArray
    sum_weights_fixed: FloatArray
    sum_weights_random: FloatArray

    def __post_init__(self) -> None:
        _freeze(self.k, self.prediction_low, self.prediction_high,
                self.sum_weights_fixed, self.sum_weights_random)


@dataclass(frozen=True)
class StudyArrays:
    """Per-study results, aligned with the rows passed in (input order).

    Weights are percentages of the analysis total under each model (0 for studies
    that are not estimable).
    """

    analysis: IntArray
    subgroup: IntArray  # −1 when the batch has no subgroups
    effect: FloatArray
    se: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    weight_fixed: FloatArray
    weight_random: FloatArray
    status: NDArray[np.int8]
    zero_cell_corrected: BoolArray

    def __post_init__(self) -> None:
        _freeze(self.analysis, self.subgroup, self.effect, self.se, self.ci_low,
                self.ci_high, self.weight_fixed, self.weight_random)


@dataclass(frozen=True)
class SubgroupArrays:
    """Pools of every (analysis, subgroup) pair, sorted by analysis then subgroup."""

    analysis: IntArray
    subgroup: IntArray
    pooled: PooledArrays

    def __post_init__(self) -> None:
        _freeze(self.analysis, self.subgroup)


@dataclass(frozen=True)
class SubgroupTestArrays:
    """Test for subgroup differences per analysis (NaN with fewer than 2 subgroups).

    ``subgroups`` is the number J of subgroups with an estimate in each analysis.
    """

    q: FloatArray
    df: FloatArray
    p: FloatArray
    i2: FloatArray
    subgroups: IntArray

    def __post_init__(self) -> None:
        _freeze(self.q, self.df, self.p, self.i2, self.subgroups)


@dataclass(frozen=True)
class NestedArrays:
    """Leave-one-out or cumulative pools: one entry per estimable study.

    ``row`` is the input row omitted (leave-one-out) or last added (cumulative);
    entries are sorted by analysis, then by the cumulative order (input order when
    none was given) within the analysis.
    """

    analysis: IntArray
    row: IntArray
    pooled: PooledArrays

    def __post_init__(self) -> None:
        _freeze(self.analysis, self.row)


@dataclass(frozen=True)
class EggerArrays:
    """Egger's regression test per analysis (NaN below the minimum k)."""

    intercept: FloatArray
    se: FloatArray
    t: FloatArray
    df: FloatArray
    p: FloatArray
    slope: FloatArray

    def __post_init__(self) -> None:
        _freeze(self.intercept, self.se, self.t, self.df, self.p, self.slope)


@dataclass(frozen=True)
class FunnelArrays:
    """Funnel plot frame per analysis: pseudo-CI limits θ_F ± z·SE for SE in [0, se_max]."""

    centre: FloatArray
    se_max: FloatArray

    def __post_init__(self) -> None:
        _freeze(self.centre, self.se_max)


# --------------------------------------------------------------------------- views


def _ratio(value: float, measure: Measure) -> float | None:
    return math.exp(value) if measure.is_ratio else None


@dataclass(frozen=True)
class Estimate:
    """One pooled estimate on the analysis scale.

    ``test`` is ``"z"`` (normal) or ``"t"`` (Hartung–Knapp–Sidik–Jonkman, ``df`` =
    k − 1). ``favours`` says which arm the point estimate favours given the outcome's
    direction; ``ci_excludes_null`` whether the CI excludes no effect.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    p: float
    k: int
    test: str
    df: float | None
    favours: Favours
    ci_excludes_null: bool
    ratio: float | None
    ratio_ci_low: float | None
    ratio_ci_high: float | None


@dataclass(frozen=True)
class RandomEffects(Estimate):
    """Random-effects estimate with τ² and the prediction interval (k ≥ 3)."""

    tau2: float = 0.0
    prediction_low: float = math.nan
    prediction_high: float = math.nan
    ratio_prediction_low: float | None = None
    ratio_prediction_high: float | None = None


@dataclass(frozen=True)
class Heterogeneity:
    """Q ("Chi²" in RevMan), df, P, I² in percent and τ², with how τ² was found."""

    q: float
    df: int
    p: float
    i2: float
    tau2: float
    tau2_method: Tau2Method
    tau2_converged: bool
    tau2_iterations: int


@dataclass(frozen=True)
class Pooled:
    """Both models and the heterogeneity of one set of studies."""

    k: int
    fixed: Estimate
    random: RandomEffects
    heterogeneity: Heterogeneity

    def model(self, model: Model) -> Estimate:
        """The estimate under ``model``."""
        return self.fixed if model is Model.FIXED else self.random


@dataclass(frozen=True)
class StudyResult:
    """One study row: effect, CI and weights (percent) under both models."""

    row: int
    subgroup: int | None
    effect: float
    se: float
    ci_low: float
    ci_high: float
    weight_fixed: float
    weight_random: float
    status: StudyStatus
    zero_cell_corrected: bool
    ratio: float | None
    ratio_ci_low: float | None
    ratio_ci_high: float | None

    @property
    def estimable(self) -> bool:
        return self.status is StudyStatus.ESTIMABLE


@dataclass(frozen=True)
class SubgroupResult:
    """Pools of one subgroup (its own τ² in the random-effects model)."""

    subgroup: int
    pooled: Pooled


@dataclass(frozen=True)
class SubgroupTest:
    """Test for subgroup differences: Q of subgroup estimates, df = J − 1, P, I² %.

    With fewer than two estimable subgroups (``subgroups`` < 2) the test is not
    applicable: Q, P and I² are NaN and df is 0, and RevMan prints "Not applicable".
    """

    q: float
    df: int
    p: float
    i2: float
    subgroups: int

    @property
    def applicable(self) -> bool:
        """True when at least two subgroups have an estimate to compare."""
        return self.subgroups >= 2


@dataclass(frozen=True)
class SensitivityRow:
    """A leave-one-out or cumulative row: the analysis re-run on a subset of studies.

    ``chosen`` is the estimate under the model chosen for the whole analysis, so that
    rows stay comparable with each other and with the main result.
    """

    row: int
    chosen: Estimate
    pooled: Pooled


@dataclass(frozen=True)
class EggerTest:
    """Egger et al. (1997): OLS of θᵢ/SEᵢ on 1/SEᵢ; the intercept is tested on k − 2 df."""

    intercept: float
    se: float
    t: float
    df: int
    p: float
    slope: float


@dataclass(frozen=True)
class FunnelData:
    """Funnel plot frame: study points are the studies' (effect, SE); the pseudo-95%
    limits are ``centre ± z·SE`` for SE from 0 to ``se_max``."""

    centre: float
    se_max: float
    z: float

    def limits(self, se: float) -> tuple[float, float]:
        """Pseudo confidence limits at standard error ``se``."""
        return self.centre - self.z * se, self.centre + self.z * se


@dataclass(frozen=True)
class AnalysisResult:
    """Everything pages and the API show for one analysis (one outcome/comparison).

    ``chosen_model`` follows the options' model rule; both models are always present.
    ``warnings`` lists anything a reader must know (e.g. a non-converged τ² estimate,
    studies excluded as not estimable).
    """

    analysis: int
    options: AnalysisOptions
    direction: Direction
    labels: ForestLabels
    chosen_model: Model
    studies: tuple[StudyResult, ...]
    overall: Pooled
    subgroups: tuple[SubgroupResult, ...]
    subgroup_test_fixed: SubgroupTest | None
    subgroup_test_random: SubgroupTest | None
    leave_one_out: tuple[SensitivityRow, ...]
    cumulative: tuple[SensitivityRow, ...] | None
    egger: EggerTest | None
    funnel: FunnelData | None
    warnings: tuple[str, ...]

    @property
    def chosen(self) -> Estimate:
        """The reported estimate (fixed or random, per the model rule)."""
        return self.overall.model(self.chosen_model)

    @property
    def subgroup_test(self) -> SubgroupTest | None:
        """Test for subgroup differences under the chosen model."""
        if self.chosen_model is Model.FIXED:
            return self.subgroup_test_fixed
        return self.subgroup_test_random


# --------------------------------------------------------------------------- batch


def _estimate_view(
    arrays: EstimateArrays, index: int, k: int, measure: Measure, direction: Direction
) -> dict:
    value = float(arrays.estimate[index])
    low, high = float(arrays.ci_low[index]), float(arrays.ci_high[index])
    df = float(arrays.df[index])
    return {
        "estimate": value,
        "se": float(arrays.se[index]),
        "ci_low": low,
        "ci_high": high,
        "statistic": float(arrays.statistic[index]),
        "p": float(arrays.p[index]),
        "k": k,
        "test": "z" if math.isinf(df) else "t",
        "df": None if math.isinf(df) else df,
        "favours": favoured_arm(value, direction),
        "ci_excludes_null": bool(low > 0.0 or high < 0.0),
        "ratio": _ratio(value, measure),
        "ratio_ci_low": _ratio(low, measure),
        "ratio_ci_high": _ratio(high, measure),
    }


def pooled_view(
    arrays: PooledArrays,
    index: int,
    options: AnalysisOptions,
    direction: Direction,
) -> Pooled:
    """Scalar view of entry ``index`` of ``arrays``."""
    measure = options.measure
    k = int(arrays.k[index])
    het = arrays.heterogeneity
    tau2 = float(het.tau2[index])
    low, high = float(arrays.prediction_low[index]), float(arrays.prediction_high[index])
    random = RandomEffects(
        **_estimate_view(arrays.random, index, k, measure, direction),
        tau2=tau2,
        prediction_low=low,
        prediction_high=high,
        ratio_prediction_low=_ratio(low, measure),
        ratio_prediction_high=_ratio(high, measure),
    )
    return Pooled(
        k=k,
        fixed=Estimate(**_estimate_view(arrays.fixed, index, k, measure, direction)),
        random=random,
        heterogeneity=Heterogeneity(
            q=float(het.q[index]),
            df=max(k - 1, 0),
            p=float(het.p[index]),
            i2=float(het.i2[index]),
            tau2=tau2,
            tau2_method=options.tau2_method,
            tau2_converged=bool(het.tau2_converged[index]),
            tau2_iterations=int(het.tau2_iterations[index]),
        ),
    )


_STATUS_WARNINGS = {
    StudyStatus.INVALID: "invalid or missing data",
    StudyStatus.NO_EVENTS: "no events in either arm",
    StudyStatus.ALL_EVENTS: "all participants had the event in both arms",
    StudyStatus.ZERO_VARIANCE: "zero variance",
}


@dataclass(frozen=True)
class BatchResult:
    """Every analysis of a batch call, as read-only arrays.

    Attributes
    ----------
    options
        The options every analysis was run with.
    directions
        Outcome direction per analysis.
    studies
        Per-study results in input row order.
    overall
        Pools per analysis (index = analysis id).
    chosen_random
        True where the model rule picked the random-effects model.
    subgroups, subgroup_test_fixed, subgroup_test_random
        Subgroup pools and tests; ``None`` when no subgroup keys were given.
    leave_one_out
        One entry per estimable study: its analysis pooled without it.
    cumulative
        One entry per estimable study in the given order; ``None`` without an order.
    egger, funnel
        Small-study-effect diagnostics per analysis.
    z
        Normal quantile used for every z-based interval (exact, from ``level``).
    """

    options: AnalysisOptions
    directions: tuple[Direction, ...]
    studies: StudyArrays
    overall: PooledArrays
    chosen_random: BoolArray
    subgroups: SubgroupArrays | None
    subgroup_test_fixed: SubgroupTestArrays | None
    subgroup_test_random: SubgroupTestArrays | None
    leave_one_out: NestedArrays
    cumulative: NestedArrays | None
    egger: EggerArrays
    funnel: FunnelArrays
    z: float
    study_order: IntArray  # input rows grouped by analysis, in input order
    study_start: IntArray  # first position in study_order of each analysis

    @property
    def n_analyses(self) -> int:
        return len(self.overall.k)

    def chosen_model(self, analysis: int) -> Model:
        """Model the rule picked for ``analysis``."""
        return Model.RANDOM if self.chosen_random[analysis] else Model.FIXED

    def analysis(self, analysis: int) -> AnalysisResult:
        """Scalar view of one analysis.

        Parameters
        ----------
        analysis
            Analysis id, 0 … ``n_analyses`` − 1, as passed to the batch call.
        """
        self._check(analysis)
        measure = self.options.measure
        direction = self.directions[analysis]
        model = self.chosen_model(analysis)
        s = self.studies
        studies = tuple(
            StudyResult(
                row=int(row),
                subgroup=None if s.subgroup[row] < 0 else int(s.subgroup[row]),
                effect=float(s.effect[row]),
                se=float(s.se[row]),
                ci_low=float(s.ci_low[row]),
                ci_high=float(s.ci_high[row]),
                weight_fixed=float(s.weight_fixed[row]),
                weight_random=float(s.weight_random[row]),
                status=StudyStatus(int(s.status[row])),
                zero_cell_corrected=bool(s.zero_cell_corrected[row]),
                ratio=_ratio(float(s.effect[row]), measure),
                ratio_ci_low=_ratio(float(s.ci_low[row]), measure),
                ratio_ci_high=_ratio(float(s.ci_high[row]), measure),
            )
            for row in self.study_rows(analysis)
        )
        test_fixed, test_random = self.subgroup_tests(analysis)
        cumulative = (None if self.cumulative is None
                      else self._nested_view(self.cumulative, analysis, model, direction))
        return AnalysisResult(
            analysis=analysis,
            options=self.options,
            direction=direction,
            labels=forest_labels(direction),
            chosen_model=model,
            studies=studies,
            overall=pooled_view(self.overall, analysis, self.options, direction),
            subgroups=self.subgroup_results(analysis),
            subgroup_test_fixed=test_fixed,
            subgroup_test_random=test_random,
            leave_one_out=self._nested_view(self.leave_one_out, analysis, model, direction),
            cumulative=cumulative,
            egger=self.egger_test(analysis),
            funnel=self.funnel_data(analysis),
            warnings=self.warnings(analysis),
        )

    def analyses(self) -> list[AnalysisResult]:
        """Scalar views of every analysis, in id order."""
        return [self.analysis(i) for i in range(self.n_analyses)]

    # Parts of one analysis, shared by :meth:`analysis` and by callers that read the
    # per-study and sensitivity rows straight from the arrays
    # (:func:`~.report.batch_to_dicts`).

    def _check(self, analysis: int) -> None:
        if not 0 <= analysis < self.n_analyses:
            raise IndexError(f"analysis {analysis} not in 0..{self.n_analyses - 1}")

    def study_bounds(self) -> IntArray:
        """Where each analysis's rows start in ``study_order``, plus the end (n_analyses + 1)."""
        return np.append(self.study_start, len(self.study_order)).astype(np.intp)

    def study_rows(self, analysis: int) -> IntArray:
        """Input rows of ``analysis`` in input order (the order of ``AnalysisResult.studies``)."""
        self._check(analysis)
        bounds = self.study_bounds()
        return self.study_order[bounds[analysis]:bounds[analysis + 1]]

    def _subgroup_entries(self, analysis: int) -> IntArray:
        if self.subgroups is None:
            return np.empty(0, dtype=np.intp)
        return np.flatnonzero(self.subgroups.analysis == analysis)

    def subgroup_results(self, analysis: int) -> tuple[SubgroupResult, ...]:
        """Scalar views of the subgroup pools of ``analysis`` (empty without subgroups)."""
        self._check(analysis)
        if self.subgroups is None:
            return ()
        direction = self.directions[analysis]
        return tuple(
            SubgroupResult(
                subgroup=int(self.subgroups.subgroup[i]),
                pooled=pooled_view(self.subgroups.pooled, int(i), self.options, direction),
            )
            for i in self._subgroup_entries(analysis)
        )

    def subgroup_tests(self, analysis: int) -> tuple[SubgroupTest | None, SubgroupTest | None]:
        """Tests for subgroup differences of ``analysis`` under the fixed and random models."""
        self._check(analysis)
        return (_subgroup_test_view(self.subgroup_test_fixed, analysis),
                _subgroup_test_view(self.subgroup_test_random, analysis))

    def egger_test(self, analysis: int) -> EggerTest | None:
        """Egger's test of ``analysis``; ``None`` below the minimum k."""
        self._check(analysis)
        e = self.egger
        if not math.isfinite(float(e.df[analysis])):
            return None
        return EggerTest(
            intercept=float(e.intercept[analysis]),
            se=float(e.se[analysis]),
            t=float(e.t[analysis]),
            df=int(e.df[analysis]),
            p=float(e.p[analysis]),
            slope=float(e.slope[analysis]),
        )

    def funnel_data(self, analysis: int) -> FunnelData | None:
        """Funnel plot frame of ``analysis``; ``None`` without estimable studies."""
        self._check(analysis)
        if int(self.overall.k[analysis]) < 1:
            return None
        return FunnelData(
            centre=float(self.funnel.centre[analysis]),
            se_max=float(self.funnel.se_max[analysis]),
            z=self.z,
        )

    def _nested_view(
        self, nested: NestedArrays, analysis: int, model: Model, direction: Direction
    ) -> tuple[SensitivityRow, ...]:
        rows = []
        entries = sensitivity_order(
            nested, np.flatnonzero(nested.analysis == analysis),
            by_row=nested is self.leave_one_out,
        )
        for i in entries:
            pooled = pooled_view(nested.pooled, int(i), self.options, direction)
            rows.append(SensitivityRow(int(nested.row[i]), pooled.model(model), pooled))
        return tuple(rows)

    def warnings(self, analysis: int) -> tuple[str, ...]:
        """What a reader of ``analysis`` must know (``AnalysisResult.warnings``)."""
        self._check(analysis)
        warnings = []
        rows = self.study_rows(analysis)
        status = self.studies.status[rows]
        excluded = status != StudyStatus.ESTIMABLE
        for row, code in zip(rows[excluded].tolist(), status[excluded].tolist()):
            warnings.append(
                f"row {row}: not estimable ({_STATUS_WARNINGS[StudyStatus(code)]});"
                " excluded from pooling and from df"
            )
        method = self.options.tau2_method
        pools = [("overall", self.overall, analysis)]
        if self.subgroups is not None:
            pools += [(f"subgroup {int(self.subgroups.subgroup[i])}", self.subgroups.pooled, int(i))
                      for i in self._subgroup_entries(analysis)]
        for name, arrays, i in pools:
            het = arrays.heterogeneity
            if not het.tau2_converged[i]:
                warnings.append(
                    f"{name}: {method} estimate of tau² did not converge after "
                    f"{int(het.tau2_iterations[i])} iterations; tau² = "
                    f"{float(het.tau2[i]):.6g} is the last iterate"
                )
        if self.options.tau2_method is not Tau2Method.DL:
            sensitivity = [self.leave_one_out] + (
                [self.cumulative] if self.cumulative is not None else []
            )
            for nested in sensitivity:
                mask = (nested.analysis == analysis) & ~nested.pooled.heterogeneity.tau2_converged
                if mask.any():
                    warnings.append(
                        f"{method} did not converge in {int(mask.sum())} sensitivity "
                        "re-analyses"
                    )
        return tuple(warnings)


def sensitivity_order(nested: NestedArrays, entries: IntArray, *, by_row: bool) -> IntArray:
    """``entries`` of ``nested`` in display order: by analysis, then by omitted row
    (leave-one-out, ``by_row``) or in the cumulative order (as stored)."""
    if by_row:
        return entries[np.lexsort((nested.row[entries], nested.analysis[entries]))]
    return entries[np.argsort(nested.analysis[entries], kind="stable")]


def _subgroup_test_view(arrays: SubgroupTestArrays | None, analysis: int) -> SubgroupTest | None:
    """The test of ``analysis``; ``None`` only when the batch had no subgroups at all."""
    if arrays is None:
        return None
    subgroups = int(arrays.subgroups[analysis])
    if subgroups < 2:
        return SubgroupTest(q=math.nan, df=0, p=math.nan, i2=math.nan, subgroups=subgroups)
    return SubgroupTest(
        q=float(arrays.q[analysis]),
        df=int(arrays.df[analysis]),
        p=float(arrays.p[analysis]),
        i2=float(arrays.i2[analysis]),
        subgroups=subgroups,
    )
