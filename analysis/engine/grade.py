"""GRADE certainty of evidence and the summary-of-findings cells, from an analysis's own numbers.

Pure functions (no Django): the living recompute applies them to every outcome's main analysis and
stores the automatic judgments beside the results; people then override any domain with a reason.

Every rule cites where it comes from:

- Starting level and the count of downgrades: GRADE handbook (Schünemann et al. 2013) 5.1 —
  randomised trials start at high; each level down moves high → moderate → low → very low;
  Pollock et al. 2016 (J Clin Epidemiol 70:106–110, "An algorithm was developed to assign GRADE
  levels of evidence", Table 2): 0 downgrades high, 1 moderate, 2 low, 3 or more very low.
- Risk of bias: Pollock et al. 2016 Table 2 (downgrade one level when less than 75% of the
  information comes from trials at low risk of bias); measured here as the share of the analysis
  weight (GRADE guidelines 4, Guyatt et al. 2011 J Clin Epidemiol 64:407–415: judge the studies
  that contribute most of the weight); two levels when half the weight or more is at high risk
  (GRADE guidelines 4: "very serious limitations").
- Inconsistency: Pollock et al. 2016 Table 2 (I² > 75% → one level; a single trial is never rated
  down); GRADE guidelines 7 (Guyatt et al. 2011 J Clin Epidemiol 64:1294–1302): variation matters
  when it would change the decision, so also one level when I² > 50% and the prediction interval
  reaches beyond the decision threshold on both sides of no effect.
- Imprecision: GRADE guidelines 6 (Guyatt et al. 2011 J Clin Epidemiol 64:1283–1293): the CI against
  no effect and the decision threshold (one level when it includes either, two when it includes
  appreciable benefit and appreciable harm), the optimal information size (GRADE handbook 5.2.1:
  α 0.05, power 0.80; dichotomous: relative risk reduction 25% from the control risk; continuous:
  the threshold as a standardised difference), and Pollock et al. 2016 Table 2 (fewer than 200
  participants: one level; fewer than 100: two).
- Publication bias: Cochrane Handbook 13.3.5.4 (tests for funnel asymmetry only with at least 10
  studies: the review's setting); Egger et al. 1997 BMJ 315:629 (asymmetry at P < 0.10).
- Absolute effects: Cochrane Handbook 14.1.5 and 15.4.4 (risk with intervention = RR × ACR; for an
  odds ratio OR × ACR / (1 − ACR + OR × ACR); for a risk difference ACR + RD), per 1,000.
- SMD in words: Cohen's 0.2 / 0.5 / 0.8 as the Cochrane Handbook 15.5.3.1 uses them; statements by
  certainty from GRADE guidelines 26 (Santesso et al. 2020 J Clin Epidemiol 119:126–135).
- Back-translation of an SMD to a familiar scale: Cochrane Handbook 15.5.3.2 (SMD × that scale's SD).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
import math
from statistics import median

from scipy.stats import norm

from analysis.engine.options import Measure

RISK_OF_BIAS = "risk_of_bias"
INCONSISTENCY = "inconsistency"
IMPRECISION = "imprecision"
INDIRECTNESS = "indirectness"
PUBLICATION_BIAS = "publication_bias"
DOMAINS = (RISK_OF_BIAS, INCONSISTENCY, INDIRECTNESS, IMPRECISION, PUBLICATION_BIAS)
DOMAIN_LABELS = {RISK_OF_BIAS: "Risk of bias", INCONSISTENCY: "Inconsistency", INDIRECTNESS: "Indirectness",
                 IMPRECISION: "Imprecision", PUBLICATION_BIAS: "Publication bias"}

CERTAINTY = ("high", "moderate", "low", "very low")
# The GRADE working group's symbols (GRADE guidelines 12, Guyatt et al. 2013 J Clin Epidemiol 66:158).
CERTAINTY_SYMBOLS = {"high": "⊕⊕⊕⊕", "moderate": "⊕⊕⊕◯", "low": "⊕⊕◯◯", "very low": "⊕◯◯◯"}

# Pollock et al. 2016, Table 2.
LOW_RISK_SHARE_NEEDED = 75.0  # % of the information from studies at low risk of bias
HIGH_RISK_SHARE_VERY_SERIOUS = 50.0
I2_SERIOUS = 75.0
I2_WITH_PREDICTION = 50.0
PARTICIPANTS_ONE_LEVEL = 200
PARTICIPANTS_TWO_LEVELS = 100
# GRADE handbook 5.2.1 (optimal information size).
OIS_ALPHA = 0.05
OIS_POWER = 0.80
OIS_RELATIVE_RISK_REDUCTION = 0.25
# Egger et al. 1997.
EGGER_ALPHA = 0.10
# Cohen's conventions (Cochrane Handbook 15.5.3.1).
SMD_SMALL, SMD_MODERATE, SMD_LARGE = 0.2, 0.5, 0.8
# The decision threshold used when the manager sets none: GRADE guidelines 6's 25% relative change for
# ratios; Cohen's "small" for SMDs. Mean and risk differences have no default (their scale is the
# outcome's own): only no effect is checked until a threshold is set.
# The measures' kinds as the engine defines them (Measure is a StrEnum: "RR" in RATIO_MEASURES holds).
# Ratios are judged on the log scale: a Peto odds ratio and a generic ratio (hazard ratio...) too.
RATIO_MEASURES = frozenset(m for m in Measure if m.is_ratio)
DICHOTOMOUS_MEASURES = frozenset(m for m in Measure if m.is_dichotomous)
SMD_MEASURES = frozenset({Measure.SMD, Measure.SMD_EXACT})
DEFAULT_THRESHOLDS = {**dict.fromkeys(RATIO_MEASURES, 1.25), **dict.fromkeys(SMD_MEASURES, SMD_SMALL)}


@dataclass(frozen=True)
class DomainJudgment:
    """One GRADE domain for one outcome: levels down (0, 1 or 2), why in a sentence, the numbers the
    rule used, and the rule itself."""

    domain: str
    levels: int
    reason: str
    numbers: dict = field(default_factory=dict)
    rule: str = ""


@dataclass(frozen=True)
class GradeSettings:
    """What people give the rules for one outcome: the decision threshold (for ratios a ratio > 1,
    read symmetrically: 1.25 also means 0.8; otherwise a positive difference on the measure's scale),
    the assumed control risk (a proportion), and a familiar scale's name and SD for back-translation."""

    threshold: float | None = None
    control_risk: float | None = None
    familiar_scale: str = ""
    familiar_sd: float | None = None


def certainty_from_levels(levels: int) -> str:
    """High for randomised trials, one step down per level (GRADE handbook 5.1; Pollock et al. 2016)."""
    return CERTAINTY[min(max(levels, 0), 3)]


def _fmt(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}".replace("-", "−")


def risk_of_bias_judgment(weights: Mapping[str, float], overall: Mapping[str, str | None]) -> DomainJudgment:
    """Risk of bias from the share of the analysis weight by each study's overall judgment.

    ``weights``: each estimable study's weight (%) in the reported model; ``overall``: each study's
    consensus overall judgment (``low``, ``some_concerns``, ``unclear``, ``high``; missing = not
    assessed, counted as not low, as Pollock et al. 2016 did for unreported risk of bias).
    One level when less than 75% of the weight is at low risk; two when 50% or more is at high risk.
    """
    total = sum(weights.values())
    rule = ("Pollock et al. 2016: downgrade 1 if < 75% of the weight is from studies at low risk of bias; "
            "GRADE guidelines 4: 2 if ≥ 50% is from studies at high risk")
    if total <= 0:
        return DomainJudgment(RISK_OF_BIAS, 0, "No weighted studies to judge.", {}, rule)
    share = {"low": 0.0, "some_concerns": 0.0, "high": 0.0, "not_assessed": 0.0}
    for study, weight in weights.items():
        judgment = overall.get(study)
        key = ("some_concerns" if judgment in ("some_concerns", "unclear") else
               judgment if judgment in ("low", "high") else "not_assessed")
        share[key] += 100.0 * weight / total
    numbers = {f"weight_{key}": round(value, 4) for key, value in share.items()}
    spread = (f"high {share['high']:.0f}%, some concerns or unclear {share['some_concerns']:.0f}%, "
              f"not assessed {share['not_assessed']:.0f}%")
    if share["high"] >= HIGH_RISK_SHARE_VERY_SERIOUS:
        levels, reason = 2, f"{share['high']:.0f}% of the weight is from studies at high risk of bias (≥ 50%)."
    elif share["low"] < LOW_RISK_SHARE_NEEDED:
        levels, reason = 1, f"Only {share['low']:.0f}% of the weight is from studies at low risk of bias (75% needed): {spread}."
    else:
        levels, reason = 0, f"{share['low']:.0f}% of the weight is from studies at low risk of bias (≥ 75%)."
    return DomainJudgment(RISK_OF_BIAS, levels, reason, numbers, rule)


def _on_analysis_scale(threshold: float | None, is_ratio: bool) -> float | None:
    """The decision threshold as a distance from no effect on the analysis scale (log for ratios)."""
    if threshold is None:
        return None
    if is_ratio:
        return abs(math.log(threshold)) if threshold > 0 and threshold != 1 else None
    return abs(threshold) or None


def inconsistency_judgment(*, k: int, i2: float | None, tau2: float | None, prediction_low: float | None,
                           prediction_high: float | None, threshold: float | None, is_ratio: bool) -> DomainJudgment:
    """Inconsistency from I² and the prediction interval (analysis scale: log for ratios).

    One level when I² > 75% (Pollock et al. 2016), or when I² > 50% and the prediction interval
    reaches beyond the decision threshold on both sides of no effect (GRADE guidelines 7: the variation
    would change the decision); a single study is not rated down.
    """
    rule = ("Pollock et al. 2016: downgrade 1 if I² > 75%; GRADE guidelines 7: also if I² > 50% and the "
            "prediction interval includes both appreciable benefit and harm")
    distance = _on_analysis_scale(threshold, is_ratio)
    numbers = {"k": k, "i2": i2, "tau2": tau2, "prediction_low": prediction_low, "prediction_high": prediction_high,
               "threshold": threshold}
    if k < 2 or i2 is None or not math.isfinite(i2):
        return DomainJudgment(INCONSISTENCY, 0, "One study: inconsistency cannot be assessed (not rated down).",
                              numbers, rule)
    if i2 > I2_SERIOUS:
        return DomainJudgment(INCONSISTENCY, 1, f"I² = {i2:.0f}% (> 75%).", numbers, rule)
    spans = (prediction_low is not None and prediction_high is not None
             and prediction_low <= -(distance or 0.0) and prediction_high >= (distance or 0.0)
             and prediction_low < 0 < prediction_high)
    if i2 > I2_WITH_PREDICTION and spans:
        where = "the decision threshold" if distance else "no effect"
        return DomainJudgment(INCONSISTENCY, 1, f"I² = {i2:.0f}% (> 50%) and the prediction interval reaches "
                                                f"beyond {where} on both sides.", numbers, rule)
    reason = f"I² = {i2:.0f}% (≤ 75%)"
    if i2 > I2_WITH_PREDICTION:
        reason += "; the prediction interval does not span appreciable benefit and harm"
    return DomainJudgment(INCONSISTENCY, 0, reason + ".", numbers, rule)


@lru_cache(maxsize=8)
def _z_sum(alpha: float, power: float) -> float:
    """z₁₋α/₂ + z_power (cached: the recompute asks for the same pair for every outcome)."""
    return float(norm.ppf(1 - alpha / 2) + norm.ppf(power))


def optimal_information_size_dichotomous(control_risk: float, *, relative_risk_reduction: float = OIS_RELATIVE_RISK_REDUCTION,
                                          alpha: float = OIS_ALPHA, power: float = OIS_POWER) -> int:
    """Total participants (both arms) a single trial needs to detect a relative risk reduction from
    ``control_risk`` (GRADE handbook 5.2.1; the usual two-proportion sample size):
    n per arm = (z₁₋α/₂ + z_power)² [p₁(1 − p₁) + p₂(1 − p₂)] / (p₁ − p₂)², p₂ = p₁(1 − RRR)."""
    if not 0 < control_risk < 1:
        raise ValueError("the control risk must be between 0 and 1")
    p1, p2 = control_risk, control_risk * (1 - relative_risk_reduction)
    z = _z_sum(alpha, power)
    per_arm = z ** 2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p1 - p2) ** 2
    return 2 * math.ceil(per_arm)


def optimal_information_size_continuous(standardised_difference: float, *, alpha: float = OIS_ALPHA,
                                        power: float = OIS_POWER) -> int:
    """Total participants a single trial needs to detect a standardised difference δ (GRADE handbook
    5.2.1): n per arm = 2 (z₁₋α/₂ + z_power)² / δ²."""
    if not standardised_difference > 0:
        raise ValueError("the standardised difference must be positive")
    z = _z_sum(alpha, power)
    return 2 * math.ceil(2 * z ** 2 / standardised_difference ** 2)


def imprecision_judgment(*, estimate: float, ci_low: float, ci_high: float, threshold: float | None,
                         is_ratio: bool, participants: int | None,
                         optimal_information_size: int | None, threshold_chosen: bool = True) -> DomainJudgment:
    """Imprecision from the CI (analysis scale), the optimal information size and the participants.

    CI (GRADE guidelines 6): two levels when it includes appreciable benefit and appreciable harm
    (beyond the threshold on both sides), one when it includes no effect or crosses the threshold on
    the side of the estimate — the last only for a threshold the review chose (``threshold_chosen``):
    with a default threshold a CI that excludes no effect is precise enough once the OIS is met (GRADE
    handbook 5.2.1). OIS: one level when the participants fall short of it. Participants
    (Pollock et al. 2016): one level under 200, two under 100. The most severe applies, at most two.
    """
    rule = ("GRADE guidelines 6: CI against no effect and the threshold; GRADE handbook 5.2.1: optimal "
            "information size; Pollock et al. 2016: < 200 participants −1, < 100 −2")
    distance = _on_analysis_scale(threshold, is_ratio)
    numbers = {"estimate": estimate, "ci_low": ci_low, "ci_high": ci_high, "threshold": threshold,
               "participants": participants, "optimal_information_size": optimal_information_size}
    reasons, levels = [], 0
    includes_null = ci_low <= 0 <= ci_high
    if distance and ci_low <= -distance and ci_high >= distance:
        levels = 2
        reasons.append("the CI includes both appreciable benefit and appreciable harm")
    elif includes_null:
        levels = 1
        reasons.append("the CI includes no effect")
    elif threshold_chosen and distance and ci_low < math.copysign(distance, estimate) < ci_high:
        levels = 1
        reasons.append("the CI crosses the decision threshold")
    if participants is None:  # generic estimates entered without group sizes
        reasons.append("the number of participants is not known (group sizes not entered): "
                       "the information size is not judged")
    elif optimal_information_size is not None and participants < optimal_information_size:
        levels = max(levels, 1)
        reasons.append(f"{participants} participants, fewer than the optimal information size ({optimal_information_size})")
    if participants is None:
        pass
    elif participants < PARTICIPANTS_TWO_LEVELS:
        levels = 2
        reasons.append(f"{participants} participants (< 100)")
    elif participants < PARTICIPANTS_ONE_LEVEL:
        levels = max(levels, 1)
        reasons.append(f"{participants} participants (< 200)")
    if not reasons:
        size = f"the optimal information size ({optimal_information_size})" if optimal_information_size else "200"
        reason = f"The CI excludes no effect{' and the threshold' if distance else ''}; {participants} participants ≥ {size}."
    else:
        reason = "; ".join(reasons)
        reason = reason[0].upper() + reason[1:] + "."
    return DomainJudgment(IMPRECISION, levels, reason, numbers, rule)


def publication_bias_judgment(*, k: int, min_studies: int, egger_p: float | None) -> DomainJudgment:
    """Small-study effects from Egger's test (P < 0.10), only with at least ``min_studies`` studies
    (Cochrane Handbook 13.3.5.4: 10); with fewer, "not assessable" and not rated down."""
    rule = f"Cochrane Handbook 13.3.5.4: assessed only with ≥ {min_studies} studies; Egger et al. 1997: P < 0.10"
    numbers = {"k": k, "min_studies": min_studies, "egger_p": egger_p}
    if k < min_studies or egger_p is None:
        return DomainJudgment(PUBLICATION_BIAS, 0, f"Not assessable: {k} stud{'y' if k == 1 else 'ies'}, fewer than "
                                                   f"{min_studies} (funnel plot and Egger's test too weak).",
                              {**numbers, "assessable": False}, rule)
    if egger_p < EGGER_ALPHA:
        return DomainJudgment(PUBLICATION_BIAS, 1, f"Egger's test suggests funnel asymmetry (P = {egger_p:.3f} < 0.10).",
                              {**numbers, "assessable": True}, rule)
    return DomainJudgment(PUBLICATION_BIAS, 0, f"No evidence of funnel asymmetry (Egger's P = {egger_p:.3f} ≥ 0.10).",
                          {**numbers, "assessable": True}, rule)


def indirectness_judgment() -> DomainJudgment:
    """Indirectness is not in the data: it is the assessors' judgment (GRADE guidelines 8); until
    they give one it is not rated down."""
    return DomainJudgment(INDIRECTNESS, 0, "Judged by people, not from the data: not rated down until an "
                                           "assessor does.", {}, "GRADE guidelines 8: set by the assessors")


@dataclass(frozen=True)
class AbsoluteEffect:
    """Anticipated absolute effects per 1,000 (Cochrane Handbook 14.1.5): risk with control, with the
    intervention (and its CI), and the difference (and its CI)."""

    control_per_1000: float
    intervention_per_1000: float
    intervention_low_per_1000: float
    intervention_high_per_1000: float
    difference_per_1000: float
    difference_low_per_1000: float
    difference_high_per_1000: float


def risk_with_intervention(measure: str, effect: float, control_risk: float) -> float:
    """The intervention group's risk from a relative effect on its natural scale (RR, OR) or a risk
    difference, and the control risk (Cochrane Handbook 15.4.4): RR × ACR; OR × ACR / (1 − ACR + OR × ACR);
    ACR + RD. Kept within [0, 1] (an RR can imply a risk above 1 at a high control risk)."""
    if measure == "RR":
        risk = effect * control_risk
    elif measure in ("OR", "PETO_OR"):  # Peto's is an odds ratio (Cochrane Handbook 10.4.4.2)
        risk = effect * control_risk / (1 - control_risk + effect * control_risk)
    elif measure == "RD":
        risk = control_risk + effect
    else:
        raise ValueError(f"absolute effects need a dichotomous measure, not {measure}")
    return min(max(risk, 0.0), 1.0)


def absolute_effect(measure: str, effect: float, low: float, high: float, control_risk: float) -> AbsoluteEffect:
    """Per 1,000 with control and intervention, and the difference with its CI, from the pooled
    effect (natural scale: a ratio, not its log) and its CI."""
    with_int = [1000 * risk_with_intervention(measure, value, control_risk) for value in (effect, low, high)]
    control = 1000 * control_risk
    return AbsoluteEffect(control, with_int[0], with_int[1], with_int[2],
                          with_int[0] - control, with_int[1] - control, with_int[2] - control)


def median_control_risk(control_arms: list[tuple[float, float]]) -> float | None:
    """The median of the included studies' control-group risks (events / total): the "risk with
    control" GRADE uses when no other baseline risk is given (Guyatt et al. 2011, GRADE guidelines 13)."""
    risks = [events / total for events, total in control_arms if total]
    return median(risks) if risks else None


def smd_size(smd: float) -> str:
    """Cohen's words for an SMD's size (Cochrane Handbook 15.5.3.1): < 0.2 trivial, small, moderate,
    ≥ 0.8 large."""
    size = abs(smd)
    if size < SMD_SMALL:
        return "trivial"
    if size < SMD_MODERATE:
        return "small"
    if size < SMD_LARGE:
        return "moderate"
    return "large"


def plain_statement(certainty: str, size: str, favours: str) -> str:
    """A GRADE informative statement (Santesso et al. 2020): the verb carries the certainty, the words
    the size and which arm the estimate favours."""
    if certainty == "very low":
        return "The evidence is very uncertain about the effect."
    verb = {"high": "results in", "moderate": "probably results in", "low": "may result in"}[certainty]
    if size == "trivial" or favours == "neither":
        return f"The intervention {verb} little to no difference."
    arm = "the intervention" if favours == "experimental" else "the control"
    return f"The intervention {verb} a {size} difference, favouring {arm}."


@dataclass(frozen=True)
class BackTranslation:
    """An SMD re-expressed as a mean difference on a familiar scale (Cochrane Handbook 15.5.3.2)."""

    scale: str
    sd: float
    mean_difference: float
    ci_low: float
    ci_high: float


def back_translate(smd: float, low: float, high: float, scale: str, sd: float) -> BackTranslation:
    """MD on the familiar scale = SMD × that scale's SD (and so its CI)."""
    if not sd > 0:
        raise ValueError("the familiar scale's SD must be positive")
    return BackTranslation(scale, sd, smd * sd, low * sd, high * sd)


@dataclass(frozen=True)
class OutcomeAssessment:
    """Everything automatic about one outcome's row: the domain judgments and the table's numbers."""

    domains: tuple[DomainJudgment, ...]
    measure: str
    k: int
    participants: int | None  # None: group sizes not entered (generic inverse-variance data)
    control_risk: float | None
    control_risk_source: str
    threshold: float | None
    threshold_source: str
    optimal_information_size: int | None

    def as_dict(self) -> dict:
        return asdict(self)


def pooled_result(payload: dict) -> dict:
    """The pooled result of the analysis's chosen model; for a single study whose chosen model gives
    no CI (random effects under Hartung–Knapp: no statistic with k = 1) the fixed-effect one, which
    is the same study's estimate with its own CI."""
    chosen = payload.get(payload.get("chosen_model", ""), {}) or {}
    fixed = payload.get("fixed") or {}
    if chosen.get("ci_low") is None and chosen.get("k") == 1 and fixed.get("ci_low") is not None:
        return fixed
    return chosen


def _participants(payload: dict) -> int | None:
    """Participants in both arms of every study; None when a study's group sizes are not known."""
    size = "total" if payload["measure"] in DICHOTOMOUS_MEASURES else "n"
    counts = [a[group].get(size) for a in payload["arms"] for group in ("intervention", "control")]
    return None if any(count is None for count in counts) else int(sum(counts))


def outcome_assess(payload: dict, settings: GradeSettings, *, funnel_min_studies: int) -> OutcomeAssessment:
    """The automatic GRADE judgments of one outcome's main analysis (the engine's payload, as
    ``batch_to_dicts`` gives it, with the study arms and risk-of-bias column the recompute adds)."""
    measure = payload["measure"]
    is_ratio = measure in RATIO_MEASURES
    chosen = pooled_result(payload)
    weight_key = "weight_random" if payload["chosen_model"] == "random" else "weight_fixed"
    weights: dict[str, float] = {}
    for s in payload["studies"]:  # a study with several rows (e.g. two doses) counts with all of them
        if s["estimable"]:
            weights[s["study"]] = weights.get(s["study"], 0.0) + (s[weight_key] or 0.0)
    rob_studies = (payload.get("risk_of_bias") or {}).get("studies", {})
    overall = {label: entry.get("overall") for label, entry in rob_studies.items()}
    participants = _participants(payload)

    if settings.threshold is not None:
        threshold, threshold_source = settings.threshold, "set by the manager"
    elif measure in DEFAULT_THRESHOLDS:
        threshold = DEFAULT_THRESHOLDS[measure]
        threshold_source = ("25% relative change (GRADE guidelines 6)" if is_ratio
                            else "Cohen's small effect, 0.2 (Cochrane Handbook 15.5.3.1)")
    else:
        threshold, threshold_source = None, "none set: only no effect is checked"

    control_risk, control_risk_source = None, ""
    if measure in DICHOTOMOUS_MEASURES:
        if settings.control_risk is not None:
            control_risk, control_risk_source = settings.control_risk, "set by the manager"
        else:
            control_risk = median_control_risk([(a["control"]["events"], a["control"]["total"])
                                                for a in payload["arms"]])
            control_risk_source = "median control-group risk of the included studies"

    ois = None
    if measure in DICHOTOMOUS_MEASURES and control_risk is not None and 0 < control_risk < 1:
        ois = optimal_information_size_dichotomous(control_risk)
    elif measure in SMD_MEASURES and threshold:
        ois = optimal_information_size_continuous(threshold)
    elif measure == "MD" and threshold:
        sds = [a["control"]["sd"] for a in payload["arms"] if a["control"].get("sd")]
        if sds:
            ois = optimal_information_size_continuous(threshold / median(sds))

    k = chosen["k"]
    egger = payload.get("egger") or {}
    heterogeneity = payload["heterogeneity"]
    random = payload["random"]
    estimate, low, high = chosen["estimate"], chosen["ci_low"], chosen["ci_high"]
    if estimate is None or low is None or high is None:
        precision = DomainJudgment(IMPRECISION, 0, "Not estimable: no pooled result.", {}, "")
    else:
        precision = imprecision_judgment(estimate=estimate, ci_low=low, ci_high=high, threshold=threshold,
                                         is_ratio=is_ratio, participants=participants, optimal_information_size=ois,
                                         threshold_chosen=settings.threshold is not None)
    domains = (
        risk_of_bias_judgment(weights, overall),
        inconsistency_judgment(k=k, i2=heterogeneity["i2"], tau2=heterogeneity["tau2"],
                               prediction_low=random.get("prediction_low"),
                               prediction_high=random.get("prediction_high"), threshold=threshold, is_ratio=is_ratio),
        indirectness_judgment(),
        precision,
        publication_bias_judgment(k=k, min_studies=funnel_min_studies, egger_p=egger.get("p")),
    )
    return OutcomeAssessment(domains, measure, k, participants, control_risk, control_risk_source, threshold,
                             threshold_source, ois)
