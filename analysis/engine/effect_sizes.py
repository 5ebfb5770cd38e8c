"""Per-study effect sizes and standard errors, vectorised over all studies of a review.

Formulas follow Deeks & Higgins (2010), *Statistical algorithms in Review Manager 5*,
so that every study row matches RevMan 5 to the last printed digit; the one optional
departure (``Measure.SMD_EXACT``) reproduces metafor's ``escalc(measure="SMD")``.
Effects are always *experimental minus control* (or experimental over control for
ratios, on the log scale): the outcome's direction only changes which side of the
forest plot is labelled as favouring the intervention (see :mod:`.direction`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import poch

from .options import Measure

FloatArray = NDArray[np.float64]

# RevMan's zero-cell correction: add 0.5 to every cell of a study with a zero cell.
ZERO_CELL_INCREMENT = 0.5


class StudyStatus(IntEnum):
    """Why a study does or does not contribute to the pooled analyses."""

    ESTIMABLE = 0
    INVALID = 1  # missing or out-of-range input (n < 1, SD < 0, events > total, ...)
    # OR/RR only (RD keeps both): Cochrane Handbook v6 10.4.4.1, "not estimable" in RevMan 5.
    NO_EVENTS = 2  # no events in either arm
    ALL_EVENTS = 3  # every participant had the event in both arms
    ZERO_VARIANCE = 4  # SD 0 in both arms (or SE 0, or below MIN_WEIGHABLE_SE): infinite weight, not estimable


# The smallest SE whose variance is a normal double: below it SE² underflows (to 0 or a subnormal)
# and the weight 1/SE² overflows to infinity, so the pooled estimate would be NaN. No real study
# reports an SE anywhere near 1.5e-154; one that small is a slip, treated as zero variance.
MIN_WEIGHABLE_SE = float(np.sqrt(np.finfo(np.float64).tiny))


def _frozen_float(values: ArrayLike, name: str) -> FloatArray:
    array = np.array(values, dtype=np.float64, copy=True)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    array.flags.writeable = False
    return array


def _check_lengths(**arrays: FloatArray) -> None:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"study arrays differ in length: {lengths}")


@dataclass(frozen=True)
class ContinuousArms:
    """Arm summaries of a continuous outcome, one entry per study row.

    Arm 1 is the experimental intervention, arm 2 the control.
    """

    n1: FloatArray
    mean1: FloatArray
    sd1: FloatArray
    n2: FloatArray
    mean2: FloatArray
    sd2: FloatArray

    def __post_init__(self) -> None:
        for name in ("n1", "mean1", "sd1", "n2", "mean2", "sd2"):
            object.__setattr__(self, name, _frozen_float(getattr(self, name), name))
        _check_lengths(n1=self.n1, mean1=self.mean1, sd1=self.sd1,
                       n2=self.n2, mean2=self.mean2, sd2=self.sd2)

    def __len__(self) -> int:
        return len(self.n1)


@dataclass(frozen=True)
class DichotomousArms:
    """Events and totals of a dichotomous outcome per arm (arm 1 experimental)."""

    events1: FloatArray
    total1: FloatArray
    events2: FloatArray
    total2: FloatArray

    def __post_init__(self) -> None:
        for name in ("events1", "total1", "events2", "total2"):
            object.__setattr__(self, name, _frozen_float(getattr(self, name), name))
        _check_lengths(events1=self.events1, total1=self.total1,
                       events2=self.events2, total2=self.total2)

    def __len__(self) -> int:
        return len(self.events1)


@dataclass(frozen=True)
class GenericEstimates:
    """Effect estimates with standard errors entered directly (generic inverse variance)."""

    effect: FloatArray
    se: FloatArray

    def __post_init__(self) -> None:
        object.__setattr__(self, "effect", _frozen_float(self.effect, "effect"))
        object.__setattr__(self, "se", _frozen_float(self.se, "se"))
        _check_lengths(effect=self.effect, se=self.se)

    def __len__(self) -> int:
        return len(self.effect)


StudyData = ContinuousArms | DichotomousArms | GenericEstimates


@dataclass(frozen=True)
class MantelHaenszelTerms:
    """Per-study summands of the Mantel–Haenszel estimator and its variance.

    Every Mantel–Haenszel quantity is a ratio of *sums over studies* of these terms,
    which is what lets leave-one-out and cumulative analyses use closed forms
    (subtract one study's terms, or take running sums).

    ``terms`` has one row per summand (see :data:`MH_TERM_NAMES`) and one column per
    study; ``weight_row`` names the row that is the study's MH weight.
    """

    measure: Measure
    terms: FloatArray

    @property
    def weight_row(self) -> int:
        """Index of the row holding the study's Mantel–Haenszel weight."""
        return 1  # S for OR and RR, K for RD: see MH_TERM_NAMES


MH_TERM_NAMES: dict[Measure, tuple[str, ...]] = {
    # Robins, Breslow & Greenland (1986): R = ad/N, S = bc/N, P = (a+d)/N, Q = (b+c)/N.
    Measure.OR: ("R", "S", "PR", "PS+QR", "QS"),
    # Greenland & Robins (1985): R = a n2/N, S = c n1/N, P = (n1 n2 (a+c) − a c N)/N².
    Measure.RR: ("R", "S", "P"),
    # Greenland & Robins (1985): K = n1 n2/N, J = (a b n2³ + c d n1³)/(n1 n2 N²), from the
    # 0.5-corrected cells in a zero-cell study (RevMan 5); RD itself from observed counts.
    Measure.RD: ("K·RD", "K", "J"),
}


@dataclass(frozen=True)
class StudyEffects:
    """Per-study effect on the analysis scale, its SE and estimability.

    Attributes
    ----------
    effect, se
        Effect (log scale for OR/RR) and standard error; NaN where not estimable.
    status
        :class:`StudyStatus` code per study.
    zero_cell_corrected
        True where 0.5 was added to every cell (dichotomous data only).
    mh_terms
        Mantel–Haenszel summands for OR/RR/RD, else ``None``.
    """

    effect: FloatArray
    se: FloatArray
    status: NDArray[np.int8]
    zero_cell_corrected: NDArray[np.bool_]
    mh_terms: MantelHaenszelTerms | None

    @property
    def estimable(self) -> NDArray[np.bool_]:
        """Mask of studies that contribute to pooling (and count in df)."""
        return self.status == StudyStatus.ESTIMABLE


def study_effects(data: StudyData, measure: Measure | str) -> StudyEffects:
    """Compute every study's effect and standard error for ``measure``.

    Parameters
    ----------
    data
        :class:`ContinuousArms`, :class:`DichotomousArms` or :class:`GenericEstimates`.
    measure
        The effect measure; it must suit the data kind (e.g. OR needs dichotomous data).

    Returns
    -------
    StudyEffects
        Arrays aligned with the input rows. Studies that cannot be estimated are
        flagged in ``status`` and carry NaN, never a silently altered number.

    Notes
    -----
    Continuous (Deeks & Higgins 2010, section 2.1), N = n1 + n2:

    * MD = m1 − m2, SE = sqrt(sd1²/n1 + sd2²/n2).
    * SMD (RevMan): s = sqrt(((n1−1)sd1² + (n2−1)sd2²)/(N−2)),
      g = (m1−m2)/s · (1 − 3/(4N − 9)), SE = sqrt(N/(n1 n2) + g²/(2(N − 3.94))).
    * SMD_EXACT (metafor ``escalc("SMD")``, Hedges 1981): J = Γ(m/2)/(sqrt(m/2)
      Γ((m−1)/2)) with m = N − 2, var = 1/n1 + 1/n2 + g²/(2N).

    Dichotomous (section 2.2), cells a, b (experimental events / non-events), c, d:

    * ln OR, SE = sqrt(1/a + 1/b + 1/c + 1/d);
      ln RR, SE = sqrt(1/a + 1/c − 1/n1 − 1/n2);
      RD = a/n1 − c/n2, SE = sqrt(ab/n1³ + cd/n2³).
    * A study with a zero cell gets 0.5 added to all four cells (so each n grows by
      1). For RD the correction only enters the study's SE; the RD itself is computed
      from the observed counts, so a double-zero study has RD exactly 0 (as RevMan 5 and
      R ``meta`` with ``settings.meta("RevMan5")``). In the Mantel–Haenszel RD the
      weight K = n1 n2/N and the variance term J use the corrected cells of such a
      study, the RD in ΣK·RD/ΣK the observed counts (R ``meta`` ``metabin`` with
      MH.exact = FALSE, as in RevMan 5); without zero cells it is Greenland–Robins.
    * Peto OR (Deeks & Higgins 2010, section 2.2.3; Yusuf et al. 1985): O = a,
      E = n1(a + c)/N, V = n1 n2 (a + c)(b + d)/(N²(N − 1)); ln OR = (O − E)/V,
      SE = 1/sqrt(V). No zero-cell correction is needed; a study with V = 0 (no events,
      or only events, in both arms) is not estimable. Pooled by inverse variance these
      weights are V, so the pooled ln OR is Σ(O − E)/ΣV with SE 1/sqrt(ΣV) and Q is
      Σ(O − E)²/V − (Σ(O − E))²/ΣV: exactly Peto's method.
    * OR/RR: studies with no events, or only events, in both arms are not estimable:
      they "provide no information about the relative probability of the event and are
      omitted from the meta-analysis" (Cochrane Handbook v6, section 10.4.4.1; v5.1,
      16.9.3), which is what RevMan 5 shows as "Not estimable" for OR and RR. R ``meta``
      instead keeps an all-events study for RR with a 0.5 correction (a ratio of about
      1 with an arbitrary SE); we follow the Handbook and RevMan. RD is defined for
      both (0), so RD keeps them.
    """
    measure = Measure(measure)
    if measure.is_continuous:
        if not isinstance(data, ContinuousArms):
            raise TypeError(f"{measure} needs ContinuousArms, got {type(data).__name__}")
        return _continuous(data, measure)
    if measure.is_dichotomous:
        if not isinstance(data, DichotomousArms):
            raise TypeError(f"{measure} needs DichotomousArms, got {type(data).__name__}")
        if measure is Measure.PETO_OR:
            return _peto(data)
        return _dichotomous(data, measure)
    if not isinstance(data, GenericEstimates):
        raise TypeError(f"{measure} needs GenericEstimates, got {type(data).__name__}")
    return _generic(data)


def _finish(
    effect: FloatArray,
    se: FloatArray,
    status: NDArray[np.int8],
    corrected: NDArray[np.bool_],
    mh_terms: MantelHaenszelTerms | None,
) -> StudyEffects:
    # A study is only usable with a finite effect and a finite SE whose square is a normal
    # number; anything else is flagged rather than given an infinite or NaN weight.
    degenerate = (status == StudyStatus.ESTIMABLE) & ~(
        np.isfinite(effect) & np.isfinite(se) & (se >= MIN_WEIGHABLE_SE)
    )
    status = status.copy()
    status[degenerate] = StudyStatus.ZERO_VARIANCE
    usable = status == StudyStatus.ESTIMABLE
    effect = np.where(usable, effect, np.nan)
    se = np.where(usable, se, np.nan)
    for array in (effect, se, status, corrected):
        array.flags.writeable = False
    return StudyEffects(effect, se, status, corrected, mh_terms)


def _continuous(data: ContinuousArms, measure: Measure) -> StudyEffects:
    n1, m1, sd1, n2, m2, sd2 = data.n1, data.mean1, data.sd1, data.n2, data.mean2, data.sd2
    finite = np.isfinite(n1) & np.isfinite(m1) & np.isfinite(sd1)
    finite &= np.isfinite(n2) & np.isfinite(m2) & np.isfinite(sd2)
    valid = finite & (sd1 >= 0) & (sd2 >= 0)
    if measure is Measure.MD:
        valid &= (n1 >= 1) & (n2 >= 1)
    else:
        # The pooled SD needs N − 2 > 0 and the exact correction needs N − 2 > 1.
        valid &= (n1 >= 1) & (n2 >= 1) & (n1 + n2 >= 4)
    status = np.where(valid, StudyStatus.ESTIMABLE, StudyStatus.INVALID).astype(np.int8)
    corrected = np.zeros(len(n1), dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        difference = m1 - m2
        if measure is Measure.MD:
            se = np.sqrt(sd1**2 / n1 + sd2**2 / n2)
            return _finish(difference, se, status, corrected, None)
        total = n1 + n2
        pooled_sd = np.sqrt(((n1 - 1.0) * sd1**2 + (n2 - 1.0) * sd2**2) / (total - 2.0))
        cohen_d = difference / pooled_sd
        if measure is Measure.SMD:
            g = cohen_d * (1.0 - 3.0 / (4.0 * total - 9.0))
            se = np.sqrt(total / (n1 * n2) + g**2 / (2.0 * (total - 3.94)))
        else:
            df = total - 2.0
            # J = Γ(m/2)/(√(m/2)·Γ((m−1)/2)) through the Pochhammer ratio, which stays
            # exact for huge N where Γ overflows and log-Γ differences lose digits.
            j = poch((df - 1.0) / 2.0, 0.5) / np.sqrt(df / 2.0)
            g = cohen_d * j
            se = np.sqrt(1.0 / n1 + 1.0 / n2 + g**2 / (2.0 * total))
    return _finish(g, se, status, corrected, None)


def _dichotomous(data: DichotomousArms, measure: Measure) -> StudyEffects:
    a, n1, c, n2 = data.events1, data.total1, data.events2, data.total2
    finite = np.isfinite(a) & np.isfinite(n1) & np.isfinite(c) & np.isfinite(n2)
    valid = finite & (n1 >= 1) & (n2 >= 1) & (a >= 0) & (c >= 0) & (a <= n1) & (c <= n2)
    b = n1 - a
    d = n2 - c
    status = np.where(valid, StudyStatus.ESTIMABLE, StudyStatus.INVALID).astype(np.int8)
    if measure is not Measure.RD:
        status[valid & (a == 0) & (c == 0)] = StudyStatus.NO_EVENTS
        status[valid & (b == 0) & (d == 0)] = StudyStatus.ALL_EVENTS
    usable = status == StudyStatus.ESTIMABLE
    corrected = usable & ((a == 0) | (b == 0) | (c == 0) | (d == 0))
    increment = np.where(corrected, ZERO_CELL_INCREMENT, 0.0)
    # Corrected cells and totals (each total grows by 2 × 0.5 when corrected).
    ac, bc, cc, dc = a + increment, b + increment, c + increment, d + increment
    n1c, n2c = n1 + 2.0 * increment, n2 + 2.0 * increment
    totalc = n1c + n2c
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure is Measure.OR:
            effect = np.log(ac) + np.log(dc) - np.log(bc) - np.log(cc)
            se = np.sqrt(1.0 / ac + 1.0 / bc + 1.0 / cc + 1.0 / dc)
            r, s = ac * dc / totalc, bc * cc / totalc
            p, q = (ac + dc) / totalc, (bc + cc) / totalc
            terms = np.vstack([r, s, p * r, p * s + q * r, q * s])
        elif measure is Measure.RR:
            effect = np.log(ac) - np.log(n1c) - np.log(cc) + np.log(n2c)
            se = np.sqrt(1.0 / ac - 1.0 / n1c + 1.0 / cc - 1.0 / n2c)
            r, s = ac * n2c / totalc, cc * n1c / totalc
            p = (n1c * n2c * (ac + cc) - ac * cc * totalc) / totalc**2
            terms = np.vstack([r, s, p])
        else:
            effect = a / n1 - c / n2
            se = np.sqrt(ac * bc / n1c**3 + cc * dc / n2c**3)
            # Mantel–Haenszel RD as RevMan 5 computes it (R meta ``metabin``, MH.exact =
            # FALSE, "as in RevMan 5"; Deeks & Higgins 2010's zero-cell rule): in a study
            # with a zero cell (a double-zero or all-events study included) both the weight
            # K and the Greenland–Robins variance term J use the 0.5-corrected cells, while
            # the study's RD in ΣK·RD/ΣK stays the observed a/n1 − c/n2. With no zero cell
            # the increment is 0 and this is exactly Greenland & Robins (1985). The earlier
            # mixture, corrected J over uncorrected K (older meta versions), gave a pooled SE
            # matching no current implementation (issue 23); uncorrected K and J throughout
            # is meta's MH.exact = TRUE, not RevMan's.
            k = n1c * n2c / totalc
            j = (ac * bc * n2c**3 + cc * dc * n1c**3) / (n1c * n2c * totalc**2)
            terms = np.vstack([k * effect, k, j])
    terms = np.where(usable, terms, 0.0)
    terms.flags.writeable = False
    return _finish(effect, se, status, corrected, MantelHaenszelTerms(measure, terms))


def _generic(data: GenericEstimates) -> StudyEffects:
    valid = np.isfinite(data.effect) & np.isfinite(data.se) & (data.se >= 0)
    status = np.where(valid, StudyStatus.ESTIMABLE, StudyStatus.INVALID).astype(np.int8)
    corrected = np.zeros(len(data.effect), dtype=bool)
    return _finish(data.effect.copy(), data.se.copy(), status, corrected, None)


def _peto(data: DichotomousArms) -> StudyEffects:
    a, n1, c, n2 = data.events1, data.total1, data.events2, data.total2
    finite = np.isfinite(a) & np.isfinite(n1) & np.isfinite(c) & np.isfinite(n2)
    valid = finite & (n1 >= 1) & (n2 >= 1) & (a >= 0) & (c >= 0) & (a <= n1) & (c <= n2)
    status = np.where(valid, StudyStatus.ESTIMABLE, StudyStatus.INVALID).astype(np.int8)
    status[valid & (a == 0) & (c == 0)] = StudyStatus.NO_EVENTS
    status[valid & (a == n1) & (c == n2)] = StudyStatus.ALL_EVENTS
    total = n1 + n2
    events = a + c
    with np.errstate(divide="ignore", invalid="ignore"):
        observed_minus_expected = a - n1 * events / total
        variance = n1 * n2 * events * (total - events) / (total * total * (total - 1.0))
        effect = observed_minus_expected / variance
        se = 1.0 / np.sqrt(variance)
    corrected = np.zeros(len(a), dtype=bool)
    return _finish(effect, se, status, corrected, None)
