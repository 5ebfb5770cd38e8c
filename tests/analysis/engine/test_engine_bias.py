"""Egger's regression test and funnel plot frames.

Goldens: R 4.2.2, metafor 3.8-1 (script tests/analysis/engine/data/metafor_goldens.R).
"""

import math

import numpy as np
import pytest
from scipy import stats

from analysis.engine import (
    AnalysisOptions,
    ContinuousArms,
    DichotomousArms,
    GenericEstimates,
    analyse,
)

NORMAND = ContinuousArms(
    n1=[155, 31, 75, 18, 8, 57, 34, 110, 60], mean1=[55, 27, 64, 66, 14, 19, 52, 21, 30],
    sd1=[47, 7, 17, 20, 8, 7, 45, 16, 27], n2=[156, 32, 71, 18, 13, 52, 33, 183, 52],
    mean2=[75, 29, 119, 137, 18, 18, 41, 31, 23], sd2=[64, 4, 29, 48, 11, 4, 34, 27, 20],
)
BCG_A = [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27]
BCG_N1 = list(np.add(BCG_A, [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886]))
BCG_C = [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29]
BCG_N2 = list(np.add(BCG_C, [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825]))
BCG = DichotomousArms(BCG_A, BCG_N1, BCG_C, BCG_N2)

# R: regtest(rma(yi, vi, data=md, method='FE'), model='lm', predictor='sei')
NORMAND_MD_EGGER = {"t": -1.5959479652997235, "p": 0.15453098386997041, "df": 7}
# R: summary(lm(I(yi/sqrt(vi)) ~ I(1/sqrt(vi)), data=md))$coefficients
NORMAND_MD_EGGER_LM = {"intercept": -4.2881104702554174, "se": 2.6868736095979782, "slope": 4.2513274229240654}
# R: regtest(rma(yi, vi, data=bcg_or, method='FE'), model='lm', predictor='sei')
BCG_OR_EGGER = {"t": -1.5069506966943076, "p": 0.15999148508426514, "df": 11}


def test_egger_matches_metafor_regtest_and_lm():
    egger = analyse(NORMAND, options=AnalysisOptions(measure="MD")).egger
    assert egger.df == NORMAND_MD_EGGER["df"] == 7
    assert egger.t == pytest.approx(NORMAND_MD_EGGER["t"], rel=1e-10)
    assert egger.p == pytest.approx(NORMAND_MD_EGGER["p"], rel=1e-9)
    assert egger.intercept == pytest.approx(NORMAND_MD_EGGER_LM["intercept"], rel=1e-10)
    assert egger.se == pytest.approx(NORMAND_MD_EGGER_LM["se"], rel=1e-10)
    assert egger.slope == pytest.approx(NORMAND_MD_EGGER_LM["slope"], rel=1e-10)
    bcg = analyse(BCG, options=AnalysisOptions(measure="OR", method="MH")).egger
    assert (bcg.df, bcg.t) == (11, pytest.approx(BCG_OR_EGGER["t"], rel=1e-10))
    assert bcg.p == pytest.approx(BCG_OR_EGGER["p"], rel=1e-9)


def test_egger_equals_scipy_linregress_on_standard_normal_deviates():
    rng = np.random.default_rng(3)
    effect, se = rng.normal(0, 1, 12), rng.uniform(0.1, 1.0, 12)
    egger = analyse(GenericEstimates(effect, se), options=AnalysisOptions(measure="GENERIC")).egger
    fit = stats.linregress(1 / se, effect / se)
    assert egger.intercept == pytest.approx(fit.intercept, rel=1e-12)
    assert egger.se == pytest.approx(fit.intercept_stderr, rel=1e-12)
    assert egger.slope == pytest.approx(fit.slope, rel=1e-12)


def test_egger_needs_three_studies_and_distinct_standard_errors():
    two = GenericEstimates([0.1, 0.5], [0.2, 0.3])
    assert analyse(two, options=AnalysisOptions(measure="GENERIC")).egger is None
    three = GenericEstimates([0.1, 0.5, 0.2], [0.2, 0.3, 0.4])
    assert analyse(three, options=AnalysisOptions(measure="GENERIC")).egger.df == 1
    equal_se = GenericEstimates([0.1, 0.5, 0.2, 0.3], [0.2] * 4)
    assert analyse(equal_se, options=AnalysisOptions(measure="GENERIC")).egger is None
    assert analyse(three, options=AnalysisOptions(measure="GENERIC", egger_min_k=10)).egger is None


def test_funnel_limits_surround_the_fixed_estimate():
    result = analyse(NORMAND, options=AnalysisOptions(measure="MD"))
    funnel = result.funnel
    assert funnel.centre == result.overall.fixed.estimate
    assert funnel.se_max == pytest.approx(max(s.se for s in result.studies), rel=1e-15)
    low, high = funnel.limits(2.0)
    assert (high - low) / 2 == pytest.approx(1.959963984540054 * 2.0, rel=1e-15)
    assert math.isclose((low + high) / 2, funnel.centre, rel_tol=1e-15)
