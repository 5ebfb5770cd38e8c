"""What an analysis is asked to do: effect measure, pooling method, model rule.

Every choice a review author makes in RevMan's "analysis properties" dialog is one
field of :class:`AnalysisOptions`; the defaults reproduce RevMan 5 (Deeks & Higgins
2010, *Statistical algorithms in Review Manager 5*).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Measure(StrEnum):
    """Effect measure of an analysis.

    Continuous outcomes: ``MD`` (mean difference), ``SMD`` (Hedges' adjusted g with
    RevMan's standard error), ``SMD_EXACT`` (Hedges' g with the exact gamma-function
    correction and metafor's large-sample variance). Dichotomous outcomes: ``OR``,
    ``RR`` (analysed on the log scale), ``RD`` and ``PETO_OR`` (Peto's one-step odds
    ratio from O − E and V, pooled by the Peto method only). ``GENERIC``: effect and
    standard error entered directly (generic inverse variance); ``GENERIC_RATIO``: the
    same with the effects entered as natural logs of a ratio (a log hazard ratio), so
    results are shown exponentiated.
    """

    MD = "MD"
    SMD = "SMD"
    SMD_EXACT = "SMD_EXACT"
    OR = "OR"
    RR = "RR"
    RD = "RD"
    PETO_OR = "PETO_OR"
    GENERIC = "GENERIC"
    GENERIC_RATIO = "GENERIC_RATIO"

    @property
    def is_ratio(self) -> bool:
        """True when the analysis scale is the log of a ratio (OR, RR)."""
        return self in (Measure.OR, Measure.RR, Measure.PETO_OR, Measure.GENERIC_RATIO)

    @property
    def is_dichotomous(self) -> bool:
        """True for measures computed from 2x2 tables."""
        return self in (Measure.OR, Measure.RR, Measure.RD, Measure.PETO_OR)

    @property
    def is_continuous(self) -> bool:
        """True for measures computed from arm means and SDs."""
        return self in (Measure.MD, Measure.SMD, Measure.SMD_EXACT)

    @property
    def label(self) -> str:
        """RevMan's name for the measure, as printed above the forest plot."""
        return _MEASURE_LABELS[self]

    @property
    def code(self) -> str:
        """The measure's short name for narrow columns (RevMan's: "SMD", "Peto OR", "IV")."""
        return _MEASURE_CODES.get(self, self.value.removesuffix("_EXACT"))


_MEASURE_CODES = {"PETO_OR": "Peto OR", "GENERIC": "IV", "GENERIC_RATIO": "IV"}
_MEASURE_LABELS = {
    Measure.MD: "Mean Difference",
    Measure.SMD: "Std. Mean Difference",
    Measure.SMD_EXACT: "Std. Mean Difference (exact)",
    Measure.OR: "Odds Ratio",
    Measure.RR: "Risk Ratio",
    Measure.RD: "Risk Difference",
    Measure.PETO_OR: "Peto Odds Ratio",
    Measure.GENERIC: "Generic Inverse Variance",
    Measure.GENERIC_RATIO: "Generic Inverse Variance (ratio)",
}


class PoolingMethod(StrEnum):
    """Fixed-effect weighting: inverse variance, Mantel–Haenszel (OR/RR/RD only) or Peto
    (the Peto odds ratio only)."""

    IV = "IV"
    MH = "MH"
    PETO = "PETO"

    @property
    def label(self) -> str:
        """RevMan's abbreviation, as in "M-H, Fixed, 95% CI"."""
        return {PoolingMethod.IV: "IV", PoolingMethod.MH: "M-H", PoolingMethod.PETO: "Peto"}[self]


class Tau2Method(StrEnum):
    """Between-study variance estimator.

    ``DL``: DerSimonian & Laird (1986), RevMan's only choice. ``REML``: restricted
    maximum likelihood, Fisher scoring (Viechtbauer 2005). ``PM``: Paule & Mandel
    (1982), the generalised-Q root (DerSimonian & Kacker 2007).
    """

    DL = "DL"
    REML = "REML"
    PM = "PM"


class ModelRule(StrEnum):
    """Which model a review reports; both are always computed."""

    FIXED = "fixed"
    RANDOM = "random"
    AUTO = "auto"  # fixed when I² < threshold, random otherwise


class Model(StrEnum):
    """The model whose result is reported as "the" result of an analysis."""

    FIXED = "fixed"
    RANDOM = "random"


@dataclass(frozen=True)
class AnalysisOptions:
    """Settings shared by every analysis of one batch call.

    Parameters
    ----------
    measure
        Effect measure; must match the kind of study data passed.
    method
        ``IV``, ``MH`` or ``PETO``. Mantel–Haenszel is only defined for OR, RR and RD;
        the Peto method is the only method of ``PETO_OR`` and a fixed-effect method
        (Cochrane Handbook 5.1, section 9.4.4.2 and Table 9.4.a), so it needs
        ``model_rule`` fixed (the random-effects arrays are still computed, DerSimonian–
        Laird over the Peto log odds ratios, but never reported).
    tau2_method
        Between-study variance estimator for the random-effects model.
    model_rule
        ``fixed``, ``random`` or ``auto``; ``auto`` reports the fixed-effect model
        when I² < ``i2_threshold`` and the random-effects model otherwise.
    i2_threshold
        I² threshold in percent for ``auto`` (50 in the replicated review).
    hksj
        Use the Hartung–Knapp–Sidik–Jonkman confidence interval and t test (k − 1
        df) for the random-effects estimate, as metafor ``rma(test="knha")``.
    level
        Confidence level of the pooled intervals (overall, subgroups, prediction).
    study_level
        Confidence level of each study's interval; ``None`` means ``level``. RevMan
        keeps the two apart (an analysis's CI_STUDY and CI_TOTAL).
    max_iter, tol
        Iteration cap and convergence tolerance for REML and Paule–Mandel: an
        iteration stops when the change in τ² is at most ``tol * τ²`` (relative, since
        τ² is in squared effect units), or exactly 0 at the boundary τ² = 0.
    egger_min_k
        Smallest number of estimable studies for which Egger's test is computed.
        The Cochrane Handbook advises *showing* it only from k = 10; that display
        decision belongs to the pages, so the engine computes it from k = 3.
    """

    measure: Measure = Measure.SMD
    method: PoolingMethod = PoolingMethod.IV
    tau2_method: Tau2Method = Tau2Method.DL
    model_rule: ModelRule = ModelRule.AUTO
    i2_threshold: float = 50.0
    hksj: bool = False
    level: float = 0.95
    study_level: float | None = None
    max_iter: int = 100
    tol: float = 1e-10
    egger_min_k: int = 3

    def __post_init__(self) -> None:
        # Coerce plain strings so callers (forms, the CLI) can pass "OR" or "random".
        object.__setattr__(self, "measure", Measure(self.measure))
        object.__setattr__(self, "method", PoolingMethod(self.method))
        object.__setattr__(self, "tau2_method", Tau2Method(self.tau2_method))
        object.__setattr__(self, "model_rule", ModelRule(self.model_rule))
        if self.method is PoolingMethod.MH and self.measure not in (Measure.OR, Measure.RR, Measure.RD):
            raise ValueError(
                f"Mantel–Haenszel pooling needs OR, RR or RD, not {self.measure}"
            )
        if (self.method is PoolingMethod.PETO) != (self.measure is Measure.PETO_OR):
            raise ValueError(
                "the Peto method pools Peto odds ratios and nothing else "
                f"(got method {self.method} with measure {self.measure})"
            )
        if self.method is PoolingMethod.PETO and self.model_rule is not ModelRule.FIXED:
            raise ValueError(
                f"the Peto method is a fixed-effect method; model_rule must be fixed, not {self.model_rule}"
            )
        for name in ("level", "study_level"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or not (0.0 < value < 1.0)):
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if not (0.0 <= self.i2_threshold <= 100.0):
            raise ValueError(
                f"i2_threshold is a percentage in [0, 100], got {self.i2_threshold}"
            )
        if self.max_iter < 1:
            raise ValueError("max_iter must be at least 1")
        if not (self.tol > 0.0):
            raise ValueError("tol must be positive")
        if self.egger_min_k < 3:
            raise ValueError("Egger's test needs at least 3 studies (k − 2 df)")
