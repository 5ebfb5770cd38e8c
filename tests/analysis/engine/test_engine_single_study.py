"""One study, one subgroup: no heterogeneity, no HKSJ statistic, no subgroup test (issue 23).

With k = 1 there is nothing to compare: Q is exactly 0 on 0 df, I² is not applicable, the
automatic model rule reports the fixed-effect model, and a Hartung–Knapp–Sidik–Jonkman test
on 0 df does not exist. RevMan 5 prints "Heterogeneity: Not applicable" and, with a single
estimable subgroup, "Test for subgroup differences: Not applicable".

The single studies below are ones where the old engine's Q came out as a rounding residue
(~1e-32), so I² was 100 %, the study was labelled "Random" and HKSJ showed Z = 0.00.
"""

import json
import math

import numpy as np
import pytest

from analysis.engine import (
    AnalysisOptions,
    GenericEstimates,
    Model,
    analyse,
    analyse_batch,
)
from analysis.engine.cli import metaanalyse_csv
from analysis.engine.formatting import (
    heterogeneity_line,
    overall_effect_line,
    subgroup_test_line,
)
from analysis.engine.report import batch_to_dicts, result_to_dict
from analysis.figures import forest_layout, forest_svg

# (effect, SE) pairs found by search: wθ/w ≠ θ in floating point for each of them.
RESIDUE_STUDIES = [(-0.482, 0.481), (0.663, 0.552), (0.273, 0.734), (-0.467, 0.657)]


@pytest.mark.parametrize("effect, se", RESIDUE_STUDIES)
@pytest.mark.parametrize("tau2_method", ["DL", "REML", "PM"])
def test_one_study_has_no_heterogeneity_and_is_reported_fixed(effect, se, tau2_method):
    result = analyse(GenericEstimates([effect], [se]),
                     options=AnalysisOptions(measure="GENERIC", tau2_method=tau2_method, i2_threshold=0.0))
    het = result.overall.heterogeneity
    assert het.q == 0.0 and het.df == 0 and het.tau2 == 0.0
    assert math.isnan(het.i2) and math.isnan(het.p)
    # Even a threshold of 0 % cannot label a single study "random".
    assert result.chosen_model is Model.FIXED
    assert result.overall.fixed.estimate == pytest.approx(effect, rel=1e-15)
    assert result.overall.random.estimate == pytest.approx(effect, rel=1e-15)


@pytest.mark.parametrize("effect, se", RESIDUE_STUDIES)
def test_hksj_has_no_statistic_for_one_study(effect, se):
    result = analyse(GenericEstimates([effect], [se]),
                     options=AnalysisOptions(measure="GENERIC", hksj=True, model_rule="random"))
    random = result.overall.random
    assert random.test == "t" and random.df == 0
    for value in (random.statistic, random.p, random.se, random.ci_low, random.ci_high):
        assert math.isnan(value)
    payload = result_to_dict(result, ["Only"])
    assert payload["random"]["z"] is None and payload["random"]["p"] is None
    assert payload["heterogeneity"]["i2"] is None and payload["heterogeneity"]["q"] == 0.0
    assert payload["heterogeneity"]["applicable"] is False


def test_one_study_subgroup_under_hksj_has_no_statistic_and_no_residue():
    # Subgroup "b" holds one study; "a" holds three.
    effects = [0.10, 0.35, -0.05, RESIDUE_STUDIES[0][0]]
    ses = [0.20, 0.25, 0.30, RESIDUE_STUDIES[0][1]]
    result = analyse(GenericEstimates(effects, ses), subgroup=[0, 0, 0, 1],
                     options=AnalysisOptions(measure="GENERIC", hksj=True, model_rule="random"))
    several, single = (s.pooled for s in result.subgroups)
    assert several.k == 3 and math.isfinite(several.random.statistic)
    assert single.k == 1 and single.heterogeneity.q == 0.0 and math.isnan(single.heterogeneity.i2)
    assert math.isnan(single.random.statistic)
    payload = result_to_dict(result, ["A", "B", "C", "D"], ["a", "b"])
    one = payload["subgroups"][1]
    assert one["random"]["z"] is None and one["heterogeneity"]["i2"] is None
    layout = forest_layout({**payload, "arms": []}, title="Pain")
    notes = [row.label for row in layout.rows if row.kind == "note"]
    assert "Heterogeneity: Not applicable" in notes
    assert "Test for overall effect: Not applicable" in notes
    assert not any("= 0.00 (P" in note for note in notes)


def test_sensitivity_sets_of_one_study_have_exact_zero_q():
    # A two-study analysis: each leave-one-out set and the first cumulative set hold one study.
    effects, ses = [RESIDUE_STUDIES[0][0], RESIDUE_STUDIES[1][0]], [RESIDUE_STUDIES[0][1], RESIDUE_STUDIES[1][1]]
    batch = analyse_batch(GenericEstimates(effects, ses), [0, 0], order=[2001, 2002],
                          options=AnalysisOptions(measure="GENERIC", hksj=True))
    for nested in (batch.leave_one_out, batch.cumulative):
        single = nested.pooled.k == 1
        assert single.any()
        assert (nested.pooled.heterogeneity.q[single] == 0.0).all()
        assert np.isnan(nested.pooled.heterogeneity.i2[single]).all()
        assert np.isnan(nested.pooled.random.statistic[single]).all()
    payload = batch_to_dicts(batch, ["A", "B"])[0]
    assert all(row["i2"] is None for row in payload["leave_one_out"])


def test_one_estimable_subgroup_says_not_applicable_everywhere():
    # Two subgroups, but the second has no estimable study (SE 0 is not estimable).
    result = analyse(GenericEstimates([0.1, 0.3, 0.2], [0.2, 0.3, 0.0]), subgroup=[0, 0, 1],
                     options=AnalysisOptions(measure="GENERIC"))
    test = result.subgroup_test
    assert test is not None and not test.applicable and test.subgroups == 1
    payload = result_to_dict(result, ["A", "B", "C"], ["x", "y"])
    assert payload["subgroup_test"]["fixed"] == {
        "q": None, "df": 0, "p": None, "i2": None, "subgroups": 1, "applicable": False}
    layout = forest_layout({**payload, "arms": []}, title="Pain")
    assert "Test for subgroup differences: Not applicable" in [r.label for r in layout.rows]
    assert "Test for subgroup differences: Not applicable" in forest_svg(layout)  # what the page shows


def test_text_report_prints_not_applicable(tmp_path):
    text = metaanalyse_csv("study,effect,se,subgroup\nA,0.1,0.2,x\nB,0.3,0.3,x\nC,-0.482,0.481,x\n",
                           output_format="text")
    assert "Test for subgroup differences: Not applicable" in text
    one = metaanalyse_csv("study,effect,se\nOnly,-0.482,0.481\n", output_format="text", hksj=True,
                          model="random")
    assert "Heterogeneity: Not applicable" in one
    assert "Test for overall effect: Not applicable" in one
    assert "Random" in one.splitlines()[0]  # the review's setting, not the I² rule
    auto = json.loads(metaanalyse_csv("study,effect,se\nOnly,-0.482,0.481\n"))
    assert auto["chosen_model"] == "fixed" and auto["heterogeneity"]["i2"] is None


def test_line_functions_print_not_applicable_without_a_test():
    assert heterogeneity_line(0.0, 0, math.nan, math.nan) == "Heterogeneity: Not applicable"
    assert heterogeneity_line(None, 3, None, None) == "Heterogeneity: Not applicable"
    assert overall_effect_line(math.nan, math.nan, "t") == "Test for overall effect: Not applicable"
    assert overall_effect_line(None, None) == "Test for overall effect: Not applicable"
    assert subgroup_test_line(None, 0, None, None) == "Test for subgroup differences: Not applicable"
    assert subgroup_test_line(3.7, 1, 0.0544, 73.0) == (
        "Test for subgroup differences: Chi² = 3.70, df = 1 (P = 0.05), I² = 73.0%")


@pytest.mark.parametrize("k", [7, 10])
def test_egger_has_no_test_when_every_se_is_equal(k):
    # x − x̄ is then rounding residue (SE 0.3: Sxx ~ 1e-30), which gave SE(b₀) ~ 1e15 and P = 1.0.
    result = analyse(GenericEstimates(list(np.linspace(-0.5, 0.5, k)), [0.3] * k),
                     options=AnalysisOptions(measure="GENERIC"))
    assert result.egger is None
    varied = analyse(GenericEstimates(list(np.linspace(-0.5, 0.5, k)), [0.3] * (k - 1) + [0.31]),
                     options=AnalysisOptions(measure="GENERIC"))
    assert varied.egger is not None and math.isfinite(varied.egger.se)
