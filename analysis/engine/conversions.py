"""Deriving missing SDs and means from what trial reports give, with provenance.

Every function returns :class:`Converted` values that say how the number was
obtained, so a data-extraction form and the forest plot can show "calculated from
95% CI (t, 29 df)" or "imputed with r = 0.5" beside it.

Sources: Cochrane Handbook for Systematic Reviews of Interventions, version 6.5
(2024), chapter 6.5.2 ("Obtaining standard deviations from standard errors, confidence
intervals, t statistics and P values", "... from medians and ranges", "... for change
from baseline"); Wan, Wang, Liu & Tong (2014) BMC Med Res Methodol 14:135 for the SD
from a median with range and/or IQR; Luo, Wan, Liu & Tong (2018) Stat Methods Med Res
27(6):1785–1805 for the mean. Wan 2014 and Luo 2018 supersede Hozo et al. (2005),
which is biased for the SD at moderate n and is not offered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from scipy.stats import norm
from scipy.stats import t as student_t


class Provenance(StrEnum):
    """How a value entered the analysis."""

    REPORTED = "reported"  # taken as printed in the trial report
    CALCULATED = "calculated"  # exact algebra from reported statistics
    ESTIMATED = "estimated"  # approximation under a distributional assumption
    IMPUTED = "imputed"  # relies on an assumed value (e.g. a correlation)


@dataclass(frozen=True)
class Converted:
    """A derived number and where it came from.

    Attributes
    ----------
    value
        The number.
    provenance
        Reported, calculated, estimated or imputed.
    description
        Human-readable method, e.g. "calculated from SE: SD = SE × √n (n = 25)".
    source
        Citation of the formula.
    """

    value: float
    provenance: Provenance
    description: str
    source: str


@dataclass(frozen=True)
class MeanSD:
    """A mean and an SD derived together (e.g. from a median and IQR)."""

    mean: Converted
    sd: Converted


def reported(value: float, description: str = "as reported") -> Converted:
    """Wrap a value taken directly from a trial report."""
    return Converted(float(value), Provenance.REPORTED, description, "trial report")


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value}")


def _sample_size(name: str, n: float, minimum: int = 2) -> None:
    if not (math.isfinite(n) and n >= minimum):
        raise ValueError(f"{name} must be at least {minimum}, got {n}")


def sd_from_se(se: float, n: float) -> Converted:
    """SD of a group mean from its standard error: SD = SE·√n.

    Cochrane Handbook 6.5.2.2.
    """
    _positive("SE", se)
    _sample_size("n", n, 1)
    return Converted(
        se * math.sqrt(n),
        Provenance.CALCULATED,
        f"calculated from SE: SD = SE × √n (n = {n:g})",
        "Cochrane Handbook 6.5.2.2",
    )


Distribution = Literal["auto", "t", "z"]


def _critical_value(level: float, df: float, distribution: Distribution,
                    small_n: bool) -> tuple[float, str]:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    use_t = distribution == "t" or (distribution == "auto" and small_n)
    if use_t:
        return float(student_t.ppf(0.5 + level / 2, df)), f"t, {df:g} df"
    return float(norm.ppf(0.5 + level / 2)), "normal"


def sd_from_ci(
    lower: float,
    upper: float,
    n: float,
    level: float = 0.95,
    distribution: Distribution = "auto",
) -> Converted:
    """SD of a group mean from a confidence interval of that mean.

    SD = √n·(upper − lower)/(2·q), q the t quantile on n − 1 df or the normal
    quantile (3.92 = 2 × 1.96 for 95%). Cochrane Handbook 6.5.2.2 advises t for small
    samples (below 60 per group); ``distribution="auto"`` follows that rule and the
    description states which was used.
    """
    _sample_size("n", n)
    if not (math.isfinite(lower) and math.isfinite(upper) and upper > lower):
        raise ValueError(f"CI upper limit must exceed the lower ({lower}, {upper})")
    q, label = _critical_value(level, n - 1, distribution, n < 60)
    return Converted(
        math.sqrt(n) * (upper - lower) / (2 * q),
        Provenance.CALCULATED,
        f"calculated from {level:.0%} CI of the mean ({label}, n = {n:g})",
        "Cochrane Handbook 6.5.2.2",
    )


def _sd_from_difference_se(se_difference: float, n1: float, n2: float) -> float:
    return se_difference / math.sqrt(1 / n1 + 1 / n2)


def sd_from_difference_ci(
    lower: float,
    upper: float,
    n1: float,
    n2: float,
    level: float = 0.95,
    distribution: Distribution = "auto",
) -> Converted:
    """Common within-group SD from a CI of a difference in means between two groups.

    SE(MD) = (upper − lower)/(2·q), q the t quantile on n1 + n2 − 2 df (small samples)
    or normal; SD = SE/√(1/n1 + 1/n2), assumed equal in both groups. Cochrane
    Handbook 6.5.2.3.
    """
    _sample_size("n1", n1)
    _sample_size("n2", n2)
    if not (math.isfinite(lower) and math.isfinite(upper) and upper > lower):
        raise ValueError(f"CI upper limit must exceed the lower ({lower}, {upper})")
    q, label = _critical_value(level, n1 + n2 - 2, distribution, min(n1, n2) < 60)
    se = (upper - lower) / (2 * q)
    return Converted(
        _sd_from_difference_se(se, n1, n2),
        Provenance.CALCULATED,
        f"calculated from {level:.0%} CI of the mean difference ({label}); "
        "same SD assumed in both groups",
        "Cochrane Handbook 6.5.2.3",
    )


def sd_from_t(mean_difference: float, t: float, n1: float, n2: float) -> Converted:
    """Common SD from the t statistic of a two-group comparison of means.

    SE(MD) = MD/t, SD = SE/√(1/n1 + 1/n2). Cochrane Handbook 6.5.2.3.
    """
    _sample_size("n1", n1)
    _sample_size("n2", n2)
    if not (math.isfinite(t) and t != 0 and math.isfinite(mean_difference)
            and mean_difference != 0):
        raise ValueError("t and the mean difference must be finite and non-zero")
    se = abs(mean_difference / t)
    return Converted(
        _sd_from_difference_se(se, n1, n2),
        Provenance.CALCULATED,
        f"calculated from t = {t:g} of the two-group comparison; "
        "same SD assumed in both groups",
        "Cochrane Handbook 6.5.2.3",
    )


def sd_from_p(mean_difference: float, p: float, n1: float, n2: float) -> Converted:
    """Common SD from the two-sided P value of a two-sample t test.

    t = the (1 − P/2) quantile of t on n1 + n2 − 2 df, then as :func:`sd_from_t`.
    Cochrane Handbook 6.5.2.3. An exact P is needed: "P < 0.05" cannot be used.
    """
    _sample_size("n1", n1)
    _sample_size("n2", n2)
    if not (0 < p < 1):
        raise ValueError(f"P must be strictly between 0 and 1, got {p}")
    t = float(student_t.ppf(1 - p / 2, n1 + n2 - 2))
    result = sd_from_t(mean_difference, t, n1, n2)
    return Converted(
        result.value,
        Provenance.CALCULATED,
        f"calculated from two-sided P = {p:g} (t = {t:.4g} on {n1 + n2 - 2:g} df); "
        "same SD assumed in both groups",
        "Cochrane Handbook 6.5.2.3",
    )


def mean_sd_from_median(
    median: float,
    n: float,
    *,
    q1: float | None = None,
    q3: float | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
) -> MeanSD:
    """Estimate a group's mean and SD from its median with IQR and/or range.

    Parameters
    ----------
    median
        Sample median.
    n
        Group size.
    q1, q3
        First and third quartiles (scenario "IQR").
    minimum, maximum
        Sample range (scenario "range"). Give quartiles, range, or both.

    Returns
    -------
    MeanSD
        Estimated mean (Luo et al. 2018) and SD (Wan et al. 2014), provenance
        ``ESTIMATED``: both assume an approximately normal distribution, which skewed
        outcomes (the usual reason a median was reported) violate.

    Notes
    -----
    With ξ(n) = 2Φ⁻¹((n − 0.375)/(n + 0.25)) and η(n) = 2Φ⁻¹((0.75n − 0.125)/(n + 0.25)):

    * range: mean ≈ w(a + b)/2 + (1 − w)m, w = 4/(4 + n^0.75); SD ≈ (b − a)/ξ(n).
    * IQR: mean ≈ w(q1 + q3)/2 + (1 − w)m, w = 0.7 + 0.39/n; SD ≈ (q3 − q1)/η(n).
    * both: mean ≈ w1(a + b)/2 + w2(q1 + q3)/2 + (1 − w1 − w2)m with
      w1 = 2.2/(2.2 + n^0.75), w2 = 0.7 − 0.72/n^0.55;
      SD ≈ ((b − a)/ξ(n) + (q3 − q1)/η(n))/2.
    """
    _sample_size("n", n, 3)
    has_iqr = q1 is not None and q3 is not None
    has_range = minimum is not None and maximum is not None
    if (q1 is None) != (q3 is None) or (minimum is None) != (maximum is None):
        raise ValueError("give both quartiles and/or both ends of the range")
    if not (has_iqr or has_range):
        raise ValueError("a median needs an IQR or a range to estimate mean and SD")
    if has_iqr and not (q1 <= median <= q3 and q3 > q1):
        raise ValueError(f"need q1 <= median <= q3 and q3 > q1 ({q1}, {median}, {q3})")
    if has_range and not (minimum <= median <= maximum and maximum > minimum):
        raise ValueError(
            f"need min <= median <= max and max > min ({minimum}, {median}, {maximum})"
        )
    xi = 2 * norm.ppf((n - 0.375) / (n + 0.25))
    eta = 2 * norm.ppf((0.75 * n - 0.125) / (n + 0.25))
    if has_iqr and has_range:
        w1 = 2.2 / (2.2 + n**0.75)
        w2 = 0.7 - 0.72 / n**0.55
        mean = (w1 * (minimum + maximum) / 2 + w2 * (q1 + q3) / 2
                + (1 - w1 - w2) * median)
        sd = ((maximum - minimum) / xi + (q3 - q1) / eta) / 2
        given = "median, IQR and range"
    elif has_iqr:
        w = 0.7 + 0.39 / n
        mean = w * (q1 + q3) / 2 + (1 - w) * median
        sd = (q3 - q1) / eta
        given = "median and IQR"
    else:
        w = 4 / (4 + n**0.75)
        mean = w * (minimum + maximum) / 2 + (1 - w) * median
        sd = (maximum - minimum) / xi
        given = "median and range"
    note = f"estimated from {given} (n = {n:g}), assuming approximate normality"
    return MeanSD(
        mean=Converted(float(mean), Provenance.ESTIMATED, note,
                       "Luo et al. 2018, Stat Methods Med Res 27:1785"),
        sd=Converted(float(sd), Provenance.ESTIMATED, note,
                     "Wan et al. 2014, BMC Med Res Methodol 14:135"),
    )


def _correlation(r: float) -> None:
    if not (math.isfinite(r) and -1 <= r <= 1):
        raise ValueError(f"a correlation must lie in [-1, 1], got {r}")


def sd_change_from_baseline(sd_baseline: float, sd_final: float, r: float) -> Converted:
    """SD of the change from baseline, imputed from baseline and final SDs.

    SD_change = √(SD_b² + SD_f² − 2·r·SD_b·SD_f). Cochrane Handbook 6.5.2.8 (and
    23.2.7 on choosing r, e.g. from a study that reports all three SDs; see
    :func:`correlation_from_change`).
    """
    _positive("baseline SD", sd_baseline)
    _positive("final SD", sd_final)
    _correlation(r)
    variance = sd_baseline**2 + sd_final**2 - 2 * r * sd_baseline * sd_final
    return Converted(
        math.sqrt(max(variance, 0.0)),
        Provenance.IMPUTED,
        f"imputed from baseline and final SDs with correlation r = {r:g}",
        "Cochrane Handbook 6.5.2.8",
    )


def correlation_from_change(
    sd_baseline: float, sd_final: float, sd_change: float
) -> Converted:
    """Correlation between baseline and final values implied by a reported change SD.

    r = (SD_b² + SD_f² − SD_change²)/(2·SD_b·SD_f). Cochrane Handbook 6.5.2.8. The
    result can fall outside [−1, 1] when the three SDs are inconsistent (e.g. from
    different samples); that is reported as an error rather than clipped.
    """
    _positive("baseline SD", sd_baseline)
    _positive("final SD", sd_final)
    _positive("change SD", sd_change)
    r = (sd_baseline**2 + sd_final**2 - sd_change**2) / (2 * sd_baseline * sd_final)
    if not -1 - 1e-12 <= r <= 1 + 1e-12:
        raise ValueError(f"the three SDs imply r = {r:.4g}, outside [-1, 1]")
    return Converted(
        float(min(1.0, max(-1.0, r))),
        Provenance.CALCULATED,
        "calculated from baseline, final and change SDs",
        "Cochrane Handbook 6.5.2.8",
    )


@dataclass(frozen=True)
class EstimateSE:
    """A study's effect estimate and its SE on the analysis scale (generic inverse variance)."""

    estimate: Converted
    se: Converted


def _interval(estimate: float, lower: float, upper: float, what: str) -> None:
    if not all(math.isfinite(v) for v in (estimate, lower, upper)) or not upper > lower:
        raise ValueError(f"CI upper limit must exceed the lower ({lower}, {upper})")
    if not lower <= estimate <= upper:
        raise ValueError(f"the {what} {estimate:g} is not inside its CI ({lower:g} to {upper:g})")


def se_from_difference_ci(estimate: float, lower: float, upper: float, level: float = 0.95) -> EstimateSE:
    """SE of a difference (e.g. an adjusted mean difference) from its confidence interval.

    SE = (upper − lower)/(2·z), z the normal quantile (3.92 = 2 × 1.96 for a 95% CI); the estimate is
    kept as reported. Cochrane Handbook 6.3.1 (large samples; the interval is assumed symmetric).
    """
    _interval(estimate, lower, upper, "estimate")
    z, _ = _critical_value(level, math.inf, "z", False)
    return EstimateSE(
        estimate=reported(estimate),
        se=Converted((upper - lower) / (2 * z), Provenance.CALCULATED,
                     f"calculated from the {level:.0%} CI of the difference: SE = (upper − lower) / {2 * z:.2f}",
                     "Cochrane Handbook 6.3.1"),
    )


def log_ratio_from_ci(ratio: float, lower: float, upper: float, level: float = 0.95) -> EstimateSE:
    """The natural log of a ratio (hazard, odds or risk ratio) and its SE from the ratio's CI.

    ln(ratio), and SE = (ln upper − ln lower)/(2·z), z the normal quantile (3.92 for a 95% CI).
    Cochrane Handbook 6.3.2: ratio measures are analysed on the log scale, where the interval is
    symmetric.
    """
    for name, value in (("ratio", ratio), ("CI lower limit", lower), ("CI upper limit", upper)):
        _positive(name, value)
    _interval(ratio, lower, upper, "ratio")
    z, _ = _critical_value(level, math.inf, "z", False)
    return EstimateSE(
        estimate=Converted(math.log(ratio), Provenance.CALCULATED, f"calculated: ln({ratio:g})",
                           "Cochrane Handbook 6.3.2"),
        se=Converted((math.log(upper) - math.log(lower)) / (2 * z), Provenance.CALCULATED,
                     f"calculated from the {level:.0%} CI of the ratio: SE = (ln upper − ln lower) / {2 * z:.2f}",
                     "Cochrane Handbook 6.3.2"),
    )
