"""GRADE rules (analysis.engine.grade) against published numbers and worked examples.

The published summary-of-findings table used here: Clarke M, Hopewell S, Juszczak E, Eisinga A,
Kjeldstrøm M. Compression stockings for preventing deep vein thrombosis in airline passengers.
Cochrane Database Syst Rev 2006;(2):CD004002 — the example summary-of-findings table of the
Cochrane Handbook (chapter 14). Its rows:
- Symptomless DVT, low-risk population: OR 0.10 (0.04 to 0.25); assumed risk 10 per 1,000; with
  stockings 1 per 1,000 (0 to 3); 2,637 participants (9 studies).
- Symptomless DVT, high-risk population: same OR; 30 per 1,000 → 3 per 1,000 (1 to 8).
- Superficial vein thrombosis: OR 0.45 (0.18 to 1.13); 13 per 1,000 → 6 per 1,000 (2 to 15);
  1,804 participants (8 studies).
"""
from __future__ import annotations

import math

import pytest

from analysis.engine import grade


def per_1000(value: float) -> int:
    return int(math.floor(value + 0.5))


@pytest.mark.parametrize("odds_ratio,low,high,control_per_1000,expected", [
    (0.10, 0.04, 0.25, 10, (1, 0, 3)),    # symptomless DVT, low-risk passengers
    (0.10, 0.04, 0.25, 30, (3, 1, 8)),    # symptomless DVT, high-risk passengers
    (0.45, 0.18, 1.13, 13, (6, 2, 15)),   # superficial vein thrombosis
])
def test_absolute_effects_reproduce_a_published_cochrane_summary_of_findings(odds_ratio, low, high,
                                                                           control_per_1000, expected):
    effect = grade.absolute_effect("OR", odds_ratio, low, high, control_per_1000 / 1000)
    assert (per_1000(effect.intervention_per_1000), per_1000(effect.intervention_low_per_1000),
            per_1000(effect.intervention_high_per_1000)) == expected
    assert effect.control_per_1000 == pytest.approx(control_per_1000)
    assert effect.difference_per_1000 == pytest.approx(effect.intervention_per_1000 - control_per_1000)


def test_risk_with_intervention_by_measure_handbook_15_4_4():
    # RR × ACR: RR 0.75 at 200 per 1,000 is 150 per 1,000 (50 fewer).
    assert grade.risk_with_intervention("RR", 0.75, 0.2) == pytest.approx(0.15)
    # OR × ACR / (1 − ACR + OR × ACR): OR 0.5 at 0.2 → 0.1 / 0.9 = 0.1111.
    assert grade.risk_with_intervention("OR", 0.5, 0.2) == pytest.approx(0.1 / 0.9)
    # ACR + RD.
    assert grade.risk_with_intervention("RD", -0.05, 0.2) == pytest.approx(0.15)
    # An RR cannot imply a risk above 1.
    assert grade.risk_with_intervention("RR", 3.0, 0.5) == 1.0
    with pytest.raises(ValueError, match="dichotomous"):
        grade.risk_with_intervention("SMD", 0.3, 0.2)


def test_optimal_information_size_grade_handbook_5_2_1():
    # Rscript -e 'z<-qnorm(.975)+qnorm(.8); cat(2*ceiling(z^2*(.2*.8+.15*.85)/.05^2))'  → 1806
    assert grade.optimal_information_size_dichotomous(0.2) == 1806
    # Rscript -e 'z<-qnorm(.975)+qnorm(.8); cat(2*ceiling(z^2*(.01*.99+.0075*.9925)/.0025^2))'  → 43562
    assert grade.optimal_information_size_dichotomous(0.01) == 43562
    # Rscript -e 'z<-qnorm(.975)+qnorm(.8); cat(2*ceiling(2*z^2/.2^2))'  → 786
    assert grade.optimal_information_size_continuous(0.2) == 786
    with pytest.raises(ValueError):
        grade.optimal_information_size_dichotomous(0.0)


@pytest.mark.parametrize("levels,certainty", [(0, "high"), (1, "moderate"), (2, "low"), (3, "very low"), (6, "very low")])
def test_certainty_counts_down_from_high_for_randomised_trials(levels, certainty):
    assert grade.certainty_from_levels(levels) == certainty  # Pollock et al. 2016's formula


def test_risk_of_bias_by_share_of_weight_pollock_2016():
    assert grade.risk_of_bias_judgment({"A": 80, "B": 20}, {"A": "low", "B": "high"}).levels == 0
    judged = grade.risk_of_bias_judgment({"A": 70, "B": 30}, {"A": "low", "B": "some_concerns"})
    assert judged.levels == 1 and judged.numbers["weight_low"] == 70 and "75%" in judged.reason
    # Not assessed counts as not low (Pollock et al.'s conservative assumption).
    assert grade.risk_of_bias_judgment({"A": 70, "B": 30}, {"A": "low"}).numbers["weight_not_assessed"] == 30
    assert grade.risk_of_bias_judgment({"A": 50, "B": 50}, {"A": "low", "B": "high"}).levels == 2
    assert grade.risk_of_bias_judgment({"A": 40, "B": 60}, {"A": "unclear", "B": "unclear"}).levels == 1


def test_inconsistency_i2_and_prediction_interval():
    kwargs = dict(tau2=0.1, threshold=0.2, is_ratio=False)
    assert grade.inconsistency_judgment(k=1, i2=None, prediction_low=None, prediction_high=None, **kwargs).levels == 0
    assert grade.inconsistency_judgment(k=5, i2=80.0, prediction_low=None, prediction_high=None, **kwargs).levels == 1
    # I² 60%: down only when the prediction interval reaches past the threshold on both sides of no effect.
    assert grade.inconsistency_judgment(k=5, i2=60.0, prediction_low=-0.9, prediction_high=0.3, **kwargs).levels == 1
    assert grade.inconsistency_judgment(k=5, i2=60.0, prediction_low=-0.9, prediction_high=0.1, **kwargs).levels == 0
    assert grade.inconsistency_judgment(k=5, i2=40.0, prediction_low=-0.9, prediction_high=0.9, **kwargs).levels == 0
    # Ratios: the threshold 1.25 is ±log(1.25) on the log scale.
    ratio = dict(tau2=0.1, threshold=1.25, is_ratio=True, k=6, i2=55.0)
    assert grade.inconsistency_judgment(prediction_low=math.log(0.7), prediction_high=math.log(1.3), **ratio).levels == 1
    assert grade.inconsistency_judgment(prediction_low=math.log(0.7), prediction_high=math.log(1.2), **ratio).levels == 0


def test_imprecision_ci_threshold_ois_and_participants():
    def judge(low, high, participants=1000, ois=786, estimate=None, threshold=0.2):
        return grade.imprecision_judgment(estimate=estimate if estimate is not None else (low + high) / 2, ci_low=low,
                                          ci_high=high, threshold=threshold, is_ratio=False,
                                          participants=participants, optimal_information_size=ois)
    assert judge(-0.6, -0.3).levels == 0
    assert judge(-0.5, -0.1).levels == 1 and "threshold" in judge(-0.5, -0.1).reason  # crosses −0.2
    assert judge(-0.15, 0.05).levels == 1  # includes no effect, no appreciable effect either way
    assert judge(-0.5, 0.3).levels == 2  # appreciable benefit and harm
    assert judge(-0.6, -0.3, participants=700).levels == 1  # under the OIS
    assert judge(-0.9, -0.3, participants=150, ois=None).levels == 1  # Pollock: < 200
    assert judge(-0.9, -0.3, participants=90, ois=None).levels == 2  # Pollock: < 100


def test_publication_bias_needs_ten_studies():
    assert grade.publication_bias_judgment(k=9, min_studies=10, egger_p=0.01).numbers["assessable"] is False
    assert "Not assessable" in grade.publication_bias_judgment(k=9, min_studies=10, egger_p=0.01).reason
    assert grade.publication_bias_judgment(k=12, min_studies=10, egger_p=0.05).levels == 1
    assert grade.publication_bias_judgment(k=12, min_studies=10, egger_p=0.2).levels == 0


@pytest.mark.parametrize("smd,size", [(0.1, "trivial"), (-0.35, "small"), (0.6, "moderate"), (-0.9, "large"),
                                      (0.2, "small"), (0.5, "moderate"), (0.8, "large")])
def test_smd_words_follow_cohen_as_the_handbook_uses_them(smd, size):
    assert grade.smd_size(smd) == size


def test_statements_carry_the_certainty_santesso_2020():
    assert grade.plain_statement("high", "small", "experimental") == \
        "The intervention results in a small difference, favouring the intervention."
    assert grade.plain_statement("low", "moderate", "control").startswith("The intervention may result in")
    assert grade.plain_statement("moderate", "trivial", "experimental") == \
        "The intervention probably results in little to no difference."
    assert grade.plain_statement("very low", "large", "experimental") == "The evidence is very uncertain about the effect."


def test_back_translation_multiplies_by_the_familiar_sd_handbook_15_5_3_2():
    back = grade.back_translate(-0.34, -0.61, -0.07, "ISMI", 0.5)
    assert (back.mean_difference, back.ci_low, back.ci_high) == pytest.approx((-0.17, -0.305, -0.035))
    with pytest.raises(ValueError):
        grade.back_translate(-0.34, -0.61, -0.07, "ISMI", 0)


def test_median_control_risk():
    assert grade.median_control_risk([(5, 100), (10, 100), (30, 100)]) == pytest.approx(0.10)
    assert grade.median_control_risk([]) is None


def test_a_peto_odds_ratio_is_an_odds_ratio_for_absolute_effects():
    # Peto's method estimates an odds ratio (Cochrane Handbook 10.4.4.2): the same conversion as OR.
    assert grade.risk_with_intervention("PETO_OR", 0.45, 0.013) == grade.risk_with_intervention("OR", 0.45, 0.013)
    assert "PETO_OR" in grade.RATIO_MEASURES and "GENERIC_RATIO" in grade.RATIO_MEASURES


def test_unknown_participants_are_not_judged_by_their_number():
    # Generic inverse-variance estimates entered without group sizes: only the CI is judged.
    judged = grade.imprecision_judgment(estimate=-0.3, ci_low=-0.5, ci_high=-0.1, threshold=None, is_ratio=True,
                                        participants=None, optimal_information_size=None)
    assert judged.levels == 0 and "not known" in judged.reason
    wide = grade.imprecision_judgment(estimate=-0.3, ci_low=-0.7, ci_high=0.1, threshold=None, is_ratio=True,
                                      participants=None, optimal_information_size=None)
    assert wide.levels == 1  # the CI includes no effect


def test_a_study_with_two_rows_counts_with_its_whole_weight():
    # Study A (high risk) has two rows of 30% (e.g. two doses), B (low risk) 40%: 60% is at high risk,
    # two levels down (GRADE guidelines 4), not 43%.
    arm = {"n": 50, "mean": 1.0, "sd": 1.0}
    payload = {
        "measure": "MD", "chosen_model": "fixed", "favours": "",
        "fixed": {"k": 3, "estimate": -0.5, "ci_low": -0.9, "ci_high": -0.1},
        "random": {}, "heterogeneity": {"i2": 0.0, "tau2": 0.0}, "egger": None,
        "studies": [{"study": "A", "estimable": True, "weight_fixed": 30.0},
                    {"study": "A", "estimable": True, "weight_fixed": 30.0},
                    {"study": "B", "estimable": True, "weight_fixed": 40.0}],
        "arms": [{"intervention": arm, "control": arm}] * 3,
        "risk_of_bias": {"studies": {"A": {"overall": "high"}, "B": {"overall": "low"}}},
    }
    assessed = grade.outcome_assess(payload, grade.GradeSettings(), funnel_min_studies=10)
    (rob,) = [d for d in assessed.domains if d.domain == grade.RISK_OF_BIAS]
    assert rob.levels == 2 and rob.numbers["weight_high"] == pytest.approx(60.0)


def test_a_default_threshold_does_not_rate_down_a_ci_that_excludes_no_effect():
    # RR 0.70 (0.55 to 0.89), 3,000 participants, OIS 1,806 (control risk 0.2): precise enough under the
    # default 25% threshold (GRADE handbook 5.2.1); a threshold the review chose is judged as given.
    args = dict(estimate=math.log(0.70), ci_low=math.log(0.55), ci_high=math.log(0.89), threshold=1.25,
                is_ratio=True, participants=3000, optimal_information_size=1806)
    assert grade.imprecision_judgment(**args, threshold_chosen=False).levels == 0
    assert grade.imprecision_judgment(**args, threshold_chosen=True).levels == 1


def test_a_single_study_without_a_hksj_ci_is_judged_on_its_own_ci():
    payload = {"chosen_model": "random", "random": {"k": 1, "estimate": 0.2, "ci_low": None, "ci_high": None},
               "fixed": {"k": 1, "estimate": 0.2, "ci_low": 0.1, "ci_high": 0.3}}
    assert grade.pooled_result(payload) is payload["fixed"]
    payload["random"].update(ci_low=0.05, ci_high=0.35)
    assert grade.pooled_result(payload) is payload["random"]
