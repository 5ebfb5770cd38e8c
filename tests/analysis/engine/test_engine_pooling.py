"""Pooling, heterogeneity and τ² against metafor and RevMan 5's formulas.

metafor goldens: R 4.2.2, metafor 3.8-1, R call in the comment above each number
(script: tests/analysis/engine/data/metafor_goldens.R). RevMan-only methods
(Mantel–Haenszel OR/RR/RD with RevMan's zero-cell handling, Greenland–Robins RD variance,
RevMan's SMD) are checked against the scalar reference implementation below, written
straight from Deeks & Higgins (2010), independently of the vectorised engine. R's
``meta`` package (settings.meta("RevMan5")) is not packaged for Debian 12, so it could
not serve as a second oracle here.
"""

import math

import numpy as np
import pytest
from scipy.stats import chi2, norm

from analysis.engine import (
    AnalysisOptions,
    ContinuousArms,
    DichotomousArms,
    Direction,
    Favours,
    GenericEstimates,
    Model,
    analyse,
)
from analysis.engine.effect_sizes import StudyStatus

NAN = math.nan
Z95 = 1.959963984540054

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
SPARSE = DichotomousArms([0, 2, 0, 5, 12, 7], [10, 20, 15, 25, 12, 30],
                         [3, 0, 0, 9, 10, 7], [12, 18, 15, 26, 10, 31])
HOMOG = GenericEstimates([0.10, 0.12, 0.09, 0.11, 0.10], np.sqrt([0.04, 0.05, 0.03, 0.06, 0.05]))

# R: rma(yi, vi, data=md, method='FE')
NORMAND_MD_FE = {"estimate": -3.463612627776723, "se": 0.76482752116104691, "ci_low": -4.9626470236374205, "ci_high": -1.9645782319160252, "statistic": -4.5286192402161252, "p": 5.9370373986251929e-06, "q": 238.91581086200961, "tau2": 0}
# R: rma(yi, vi, data=md, method='DL')
NORMAND_MD_DL = {"estimate": -13.981721817043933, "se": 5.1266983392313259, "ci_low": -24.02986592153864, "ci_high": -3.9335777125492264, "statistic": -2.727237081622456, "p": 0.0063867132411699994, "q": 238.91581086200961, "tau2": 205.40937546791079}
# R: rma(yi, vi, data=md, method='REML', control=list(threshold=1e-12, tol=1e-15, maxiter=1000))
NORMAND_MD_REML = {"estimate": -15.106027473478306, "se": 8.9465528397549559, "ci_low": -32.640948825182562, "ci_high": 2.4288938782259493, "statistic": -1.688474627495975, "p": 0.091320155490715621, "q": 238.91581086200961, "tau2": 684.64615192966619}
# R: rma(yi, vi, data=md, method='REML', test='knha', control=list(threshold=1e-12, tol=1e-15, maxiter=1000))
NORMAND_MD_REML_KNHA = {"estimate": -15.106027473478306, "se": 9.1989087466251842, "ci_low": -36.318749082561752, "ci_high": 6.1066941356051423, "statistic": -1.6421542912924616, "p": 0.13918403726003356, "q": 238.91581086200961, "tau2": 684.64615192966619}
# R: rma(yi, vi, data=md, method='PM', control=list(threshold=1e-12, tol=1e-15, maxiter=1000))
NORMAND_MD_PM = {"estimate": -15.145680034100414, "se": 9.2142715953001115, "ci_low": -33.205320504659056, "ci_high": 2.9139604364582308, "statistic": -1.6437197316634027, "p": 0.1002341082319704, "q": 238.91581086200961, "tau2": 728.25112859449666}
# R: rma(yi, vi, data=md, method='PM', test='knha', control=list(threshold=1e-12, tol=1e-15, maxiter=1000))
NORMAND_MD_PM_KNHA = {"estimate": -15.145680034100414, "se": 9.2142715953001098, "ci_low": -36.39382843575676, "ci_high": 6.1024683675559306, "statistic": -1.6437197316634031, "p": 0.13885680504428058, "q": 238.91581086200961, "tau2": 728.25112859449666}
# R: rma(yi, vi, data=md, method='DL', test='knha')
NORMAND_MD_DL_KNHA = {"estimate": -13.981721817043933, "se": 8.7368066649686114, "ci_low": -34.128834114940872, "ci_high": 6.1653904808530058, "statistic": -1.6003240489577852, "p": 0.14819426934137894, "q": 238.91581086200961, "tau2": 205.40937546791079}
# R: predict(rma(yi, vi, data=md, method='DL'), pi.type='riley')
NORMAND_MD_DL_PI = {"pi_low": -49.974721629116523, "pi_high": 22.011277995028657}
# R: predict(rma(yi, vi, data=md, method='REML', test='knha', control=list(threshold=1e-12, tol=1e-15, maxiter=1000)), pi.type='riley')
NORMAND_MD_REML_KNHA_PI = {"pi_low": -80.690409278988014, "pi_high": 50.478354332031401}
# R: predict(rma(yi, vi, data=md, method='PM', control=list(threshold=1e-12, tol=1e-15, maxiter=1000)), pi.type='riley')
NORMAND_MD_PM_PI = {"pi_low": -82.574959968869976, "pi_high": 52.283599900669152}
# R: rma(yi, vi, data=smd, method='DL')
NORMAND_SMD_EXACT_DL = {"estimate": -0.53073731061597662, "se": 0.2592186056768585, "ci_low": -1.0387964418653093, "ci_high": -0.022678179366643958, "statistic": -2.0474506805950221, "p": 0.040613854610900675, "q": 123.72927435971823, "tau2": 0.53971437482021489}
# R: rma(yi, vi, data=bcg_or, method='FE')
BCG_OR_FE = {"estimate": -0.43613907613640951, "se": 0.042265456992996012, "ci_low": -0.51897784963280824, "ci_high": -0.35330030264001078, "statistic": -10.319043189540904, "p": 5.7796230234788756e-25, "q": 163.16491518079985, "tau2": 0}
# R: rma(yi, vi, data=bcg_or, method='DL')
BCG_OR_DL = {"estimate": -0.74739234973213753, "se": 0.19226284897113902, "ci_low": -1.1242206092806337, "ci_high": -0.37056409018364134, "statistic": -3.8873466909061052, "p": 0.00010134595615579446, "q": 163.16491518079985, "tau2": 0.36634340672559945}
# R: rma(yi, vi, data=bcg_or, method='REML', control=list(threshold=1e-12, tol=1e-15, maxiter=1000))
BCG_OR_REML = {"estimate": -0.74517777084369552, "se": 0.18602791275119679, "ci_low": -1.1097857799552007, "ci_high": -0.38056976173219037, "statistic": -4.0057309670529619, "p": 6.1825987178484979e-05, "q": 163.16491518079985, "tau2": 0.33777203311228582}
# R: rma(yi, vi, data=bcg_or, method='PM', test='knha', control=list(threshold=1e-12, tol=1e-15, maxiter=1000))
BCG_OR_PM_KNHA = {"estimate": -0.74546039053162216, "se": 0.1867903364712766, "ci_low": -1.1524415720930981, "ci_high": -0.33847920897014622, "statistic": -3.9908937722067552, "p": 0.0017908081024884022, "q": 163.16491518079985, "tau2": 0.34120510217786809}
# R: predict(rma(yi, vi, data=bcg_or, method='DL'), pi.type='riley')
BCG_OR_DL_PI = {"pi_low": -2.1451624730701222, "pi_high": 0.65037777360584714}
# R: rma(yi, vi, data=bcg_rr, method='FE')
BCG_RR_FE = {"estimate": -0.43028516365409092, "se": 0.040498751710863812, "ci_low": -0.5096612584262139, "ci_high": -0.35090906888196793, "statistic": -10.624652501046512, "p": 2.2886293069732448e-26, "q": 152.23300808237329, "tau2": 0}
# R: rma(yi, vi, data=bcg_rr, method='DL')
BCG_RR_DL = {"estimate": -0.71411722207322692, "se": 0.1787420895354031, "ci_low": -1.0644452800840507, "ci_high": -0.36378916406240319, "statistic": -3.9952381888865807, "p": 6.462924304703998e-05, "q": 152.23300808237329, "tau2": 0.30876026286237618}
# R: rma(yi, vi, data=bcg_rr, method='REML', control=list(threshold=1e-12, tol=1e-15, maxiter=1000))
BCG_RR_REML = {"estimate": -0.71453234215813966, "se": 0.1797815161052069, "ci_low": -1.0668976388103528, "ci_high": -0.36216704550592649, "statistic": -3.9744483061317619, "p": 7.0542581016423697e-05, "q": 152.23300808237329, "tau2": 0.3132432581364859}
# R: rma(yi, vi, data=bcg_rr, method='PM', test='knha', control=list(threshold=1e-12, tol=1e-15, maxiter=1000))
BCG_RR_PM_KNHA = {"estimate": -0.71496815349344411, "se": 0.18089219153762351, "ci_low": -1.1090983812022399, "ci_high": -0.32083792578464826, "statistic": -3.9524544836129034, "p": 0.0019192718312779982, "q": 152.23300808237329, "tau2": 0.31806845220502394}
# R: predict(rma(yi, vi, data=bcg_rr, method='DL'), pi.type='riley')
BCG_RR_DL_PI = {"pi_low": -1.9988384957521186, "pi_high": 0.57060405160566485}
# R: rma(yi, vi, data=bcg_rd, method='FE')
BCG_RD_FE = {"estimate": -0.0009142634684562598, "se": 0.00022603392965608301, "ci_low": -0.0013572818298662425, "ci_high": -0.00047124510704627708, "statistic": -4.0448063255252755, "p": 5.2366396820699394e-05, "q": 276.47371270448519, "tau2": 0}
# R: rma(yi, vi, data=bcg_rd, method='DL')
BCG_RD_DL = {"estimate": -0.0070552635660954969, "se": 0.0015633902071895238, "ci_low": -0.010119452065969576, "ci_high": -0.0039910750662214174, "statistic": -4.5127975943885481, "p": 6.3978072213701955e-06, "q": 276.47371270448519, "tau2": 1.8734749933120175e-05}
# R: rma(yi, vi, data=bcg_rd, method='REML', control=list(threshold=1e-12, tol=1e-15, maxiter=1000))
BCG_RD_REML = {"estimate": -0.025173288143325753, "se": 0.010828114163747684, "ci_low": -0.046396001924759254, "ci_high": -0.0039505743618922506, "statistic": -2.3248081579713515, "p": 0.020082220596510096, "q": 276.47371270448519, "tau2": 0.0014214030956965797}
# R: rma(yi, vi, data=bcg_rd, method='PM', test='knha', control=list(threshold=1e-12, tol=1e-15, maxiter=1000))
BCG_RD_PM_KNHA = {"estimate": -0.025280839880106026, "se": 0.011086803875816939, "ci_low": -0.049436910404740332, "ci_high": -0.0011247693554717192, "statistic": -2.2802640114568806, "p": 0.041658391741527676, "q": 276.47371270448519, "tau2": 0.0014941935446018959}
# R: predict(rma(yi, vi, data=bcg_rd, method='DL'), pi.type='riley')
BCG_RD_DL_PI = {"pi_low": -0.017184325178120411, "pi_high": 0.0030737980459294182}
# R: rma.mh(ai=tpos, bi=tneg, ci=cpos, di=cneg, data=bcg, measure='OR')
BCG_OR_MH = {"estimate": -0.47341098838858547, "se": 0.041007778404231442, "q": 163.94257956919316, "statistic": -11.544419298260156}
# R: rma.mh(ai=tpos, bi=tneg, ci=cpos, di=cneg, data=bcg, measure='RR')
BCG_RR_MH = {"estimate": -0.45370960468375388, "se": 0.039337366871294382, "q": 152.56755358665728, "statistic": -11.533807185626319}
# R: rma(yi, vi, data=sparse_or, method='FE')
SPARSE_OR_FE = {"estimate": -0.31524060839515039, "se": 0.41243904355153438, "ci_low": -1.1236062795743045, "ci_high": 0.49312506278400375, "statistic": -0.7643326045967832, "p": 0.44466906017010877, "q": 3.4777520015716159, "tau2": 0}
# R: rma(yi, vi, data=sparse_or, method='DL')
SPARSE_OR_DL = {"estimate": -0.31715850530605699, "se": 0.46818649731942708, "ci_low": -1.2347871781000925, "ci_high": 0.60047016748797843, "statistic": -0.67741916335034957, "p": 0.49814004302883363, "q": 3.4777520015716159, "tau2": 0.13187723583733599}
# R: rma(yi, vi, data=sparse_rr, method='FE')
SPARSE_RR_FE = {"estimate": -0.24543485714271143, "se": 0.32028543312679658, "ci_low": -0.87318277084404461, "ci_high": 0.3823130565586218, "statistic": -0.76630040506883479, "p": 0.44349757735284262, "q": 3.1958442609732014, "tau2": 0}
# R: rma(yi, vi, data=sparse_rr, method='DL')
SPARSE_RR_DL = {"estimate": -0.24574564942069371, "se": 0.34165995298793361, "ci_low": -0.91538685223669147, "ci_high": 0.4238955533953041, "statistic": -0.71926969277951258, "p": 0.47197476575423014, "q": 3.1958442609732014, "tau2": 0.034397365007739836}
# R: rma(yi, vi, data=homog, method='DL', control=list(threshold=1e-12, tol=1e-15, maxiter=1000))
HOMOG_DL = {"estimate": 0.10202898550724634, "se": 0.093250480824031354, "ci_low": -0.080738598448898025, "ci_high": 0.28479656946339071, "statistic": 1.0941389750019681, "p": 0.27389403096303022, "q": 0.012526570048309179, "tau2": 0}
# R: rma(yi, vi, data=homog, method='REML', control=list(threshold=1e-12, tol=1e-15, maxiter=1000))
HOMOG_REML = {"estimate": 0.10202898550724634, "se": 0.093250480824031354, "ci_low": -0.080738598448898025, "ci_high": 0.28479656946339071, "statistic": 1.0941389750019681, "p": 0.27389403096303022, "q": 0.012526570048309179, "tau2": 0}
# R: rma(yi, vi, data=homog, method='PM', control=list(threshold=1e-12, tol=1e-15, maxiter=1000))
HOMOG_PM = {"estimate": 0.10202898550724634, "se": 0.093250480824031354, "ci_low": -0.080738598448898025, "ci_high": 0.28479656946339071, "statistic": 1.0941389750019681, "p": 0.27389403096303022, "q": 0.012526570048309179, "tau2": 0}

CLOSED_FORM = 1e-10  # RevMan-formula numbers: no iteration, only rounding
ITERATIVE = 1e-8  # REML / PM roots (both sides converged to ~1e-12)


def _check(estimate, golden, rel, *, q=None, tau2=None):
    for field in ("estimate", "se", "ci_low", "ci_high", "statistic", "p"):
        assert getattr(estimate, field) == pytest.approx(golden[field], rel=rel), field
    if tau2 is not None:
        assert tau2 == pytest.approx(golden["tau2"], rel=rel, abs=1e-300)
    if q is not None:
        assert q == pytest.approx(golden["q"], rel=CLOSED_FORM)


def _analyse(data, measure, **options):
    return analyse(data, options=AnalysisOptions(measure=measure, **options))


CASES = [
    # (data, measure, tau2 method, hksj, fixed golden, random golden, PI golden, tolerance)
    (NORMAND, "MD", "DL", False, NORMAND_MD_FE, NORMAND_MD_DL, NORMAND_MD_DL_PI, CLOSED_FORM),
    (NORMAND, "MD", "DL", True, NORMAND_MD_FE, NORMAND_MD_DL_KNHA, None, CLOSED_FORM),
    (NORMAND, "MD", "REML", False, NORMAND_MD_FE, NORMAND_MD_REML, None, ITERATIVE),
    (NORMAND, "MD", "REML", True, NORMAND_MD_FE, NORMAND_MD_REML_KNHA, NORMAND_MD_REML_KNHA_PI, ITERATIVE),
    (NORMAND, "MD", "PM", False, NORMAND_MD_FE, NORMAND_MD_PM, NORMAND_MD_PM_PI, ITERATIVE),
    (NORMAND, "MD", "PM", True, NORMAND_MD_FE, NORMAND_MD_PM_KNHA, None, ITERATIVE),
    (NORMAND, "SMD_EXACT", "DL", False, None, NORMAND_SMD_EXACT_DL, None, CLOSED_FORM),
    (BCG, "OR", "DL", False, BCG_OR_FE, BCG_OR_DL, BCG_OR_DL_PI, CLOSED_FORM),
    (BCG, "OR", "REML", False, BCG_OR_FE, BCG_OR_REML, None, ITERATIVE),
    (BCG, "OR", "PM", True, BCG_OR_FE, BCG_OR_PM_KNHA, None, ITERATIVE),
    (BCG, "RR", "DL", False, BCG_RR_FE, BCG_RR_DL, BCG_RR_DL_PI, CLOSED_FORM),
    (BCG, "RR", "REML", False, BCG_RR_FE, BCG_RR_REML, None, ITERATIVE),
    (BCG, "RR", "PM", True, BCG_RR_FE, BCG_RR_PM_KNHA, None, ITERATIVE),
    (BCG, "RD", "DL", False, BCG_RD_FE, BCG_RD_DL, BCG_RD_DL_PI, CLOSED_FORM),
    (BCG, "RD", "REML", False, BCG_RD_FE, BCG_RD_REML, None, ITERATIVE),
    (BCG, "RD", "PM", True, BCG_RD_FE, BCG_RD_PM_KNHA, None, ITERATIVE),
    (SPARSE, "OR", "DL", False, SPARSE_OR_FE, SPARSE_OR_DL, None, CLOSED_FORM),
    (SPARSE, "RR", "DL", False, SPARSE_RR_FE, SPARSE_RR_DL, None, CLOSED_FORM),
]


@pytest.mark.parametrize("data, measure, tau2, hksj, fixed, random, prediction, rel", CASES)
def test_inverse_variance_pooling_matches_metafor(data, measure, tau2, hksj, fixed, random,
                                                  prediction, rel):
    result = _analyse(data, measure, method="IV", tau2_method=tau2, hksj=hksj)
    pooled = result.overall
    if fixed is not None:
        _check(pooled.fixed, fixed, CLOSED_FORM, q=pooled.heterogeneity.q)
    _check(pooled.random, random, rel, q=pooled.heterogeneity.q, tau2=pooled.heterogeneity.tau2)
    assert pooled.heterogeneity.tau2_converged
    assert pooled.random.test == ("t" if hksj else "z")
    if prediction is not None:
        assert pooled.random.prediction_low == pytest.approx(prediction["pi_low"], rel=rel)
        assert pooled.random.prediction_high == pytest.approx(prediction["pi_high"], rel=rel)
    # Excluded studies (sparse data) count neither in k nor in df.
    assert pooled.k == pooled.heterogeneity.df + 1 == np.isfinite(
        [s.effect for s in result.studies]).sum()


@pytest.mark.parametrize("measure, golden", [("OR", BCG_OR_MH), ("RR", BCG_RR_MH)])
def test_mantel_haenszel_matches_metafor_rma_mh_without_zero_cells(measure, golden):
    pooled = _analyse(BCG, measure, method="MH").overall
    assert pooled.fixed.estimate == pytest.approx(golden["estimate"], rel=CLOSED_FORM)
    assert pooled.fixed.se == pytest.approx(golden["se"], rel=CLOSED_FORM)
    assert pooled.fixed.statistic == pytest.approx(golden["statistic"], rel=CLOSED_FORM)
    # metafor's rma.mh Q also uses inverse-variance weights about the MH estimate.
    assert pooled.heterogeneity.q == pytest.approx(golden["q"], rel=CLOSED_FORM)


# --------------------------------------------------------------------------------------
# Scalar reference implementation of RevMan 5 (Deeks & Higgins 2010), one study at a time.


def reference_study(a, n1, c, n2, measure):
    """Effect, variance and zero-cell-corrected cells of one 2x2 table."""
    b, d = n1 - a, n2 - c
    if measure != "RD" and ((a == 0 and c == 0) or (b == 0 and d == 0)):
        return None
    inc = 0.5 if 0 in (a, b, c, d) else 0.0
    A, B, C, D = a + inc, b + inc, c + inc, d + inc
    N1, N2 = A + B, C + D
    if measure == "OR":
        return math.log(A * D / (B * C)), 1 / A + 1 / B + 1 / C + 1 / D, (A, B, C, D)
    if measure == "RR":
        return math.log((A / N1) / (C / N2)), 1 / A + 1 / C - 1 / N1 - 1 / N2, (A, B, C, D)
    return a / n1 - c / n2, A * B / N1**3 + C * D / N2**3, (A, B, C, D)


def reference_mh(data, measure):
    """RevMan's Mantel–Haenszel analysis, then DL random effects from the MH-centred Q."""
    studies = []
    for a, n1, c, n2 in zip(data.events1, data.total1, data.events2, data.total2):
        one = reference_study(a, n1, c, n2, measure)
        if one is not None:
            studies.append((a, n1, c, n2) + one)
    if measure == "OR":
        r = s = pr = psqr = qs = 0.0
        weights = []
        for *_, (A, B, C, D) in studies:
            N = A + B + C + D
            R, S, P, Q = A * D / N, B * C / N, (A + D) / N, (B + C) / N
            r, s, pr, psqr, qs = r + R, s + S, pr + P * R, psqr + P * S + Q * R, qs + Q * S
            weights.append(S)
        theta = math.log(r / s)
        var = pr / (2 * r * r) + psqr / (2 * r * s) + qs / (2 * s * s)
    elif measure == "RR":
        r = s = p = 0.0
        weights = []
        for *_, (A, B, C, D) in studies:
            N1, N2 = A + B, C + D
            N = N1 + N2
            r += A * N2 / N
            s += C * N1 / N
            p += (N1 * N2 * (A + C) - A * C * N) / N**2
            weights.append(C * N1 / N)
        theta, var = math.log(r / s), p / (r * s)
    else:
        k_sum = k_rd = j_sum = 0.0
        weights = []
        for *_, rd, _, (A, B, C, D) in studies:
            # RevMan 5: K and the Greenland–Robins J from the (zero-cell corrected) cells,
            # the RD itself from the observed counts (reference_study).
            N1, N2 = A + B, C + D
            k = N1 * N2 / (N1 + N2)
            k_sum += k
            k_rd += k * rd
            j_sum += (A * B * N2**3 + C * D * N1**3) / (N1 * N2 * (N1 + N2) ** 2)
            weights.append(k)
        theta, var = k_rd / k_sum, j_sum / k_sum**2
    y = [st[4] for st in studies]
    v = [st[5] for st in studies]
    w = [1 / vi for vi in v]
    q = sum(wi * (yi - theta) ** 2 for wi, yi in zip(w, y))
    df = len(y) - 1
    tau2 = max(0.0, (q - df) / (sum(w) - sum(wi * wi for wi in w) / sum(w)))
    w_star = [1 / (vi + tau2) for vi in v]
    theta_r = sum(wi * yi for wi, yi in zip(w_star, y)) / sum(w_star)
    return {"theta": theta, "se": math.sqrt(var), "q": q, "df": df, "tau2": tau2, "theta_r": theta_r,
                "se_r": math.sqrt(1 / sum(w_star)), "i2": max(0.0, (q - df) / q) * 100,
                "weights": [100 * x / sum(weights) for x in weights]}


@pytest.mark.parametrize("data", [BCG, SPARSE], ids=["bcg", "sparse"])
@pytest.mark.parametrize("measure", ["OR", "RR", "RD"])
def test_mantel_haenszel_follows_revman(data, measure):
    expected = reference_mh(data, measure)
    result = _analyse(data, measure, method="MH")
    pooled = result.overall
    assert pooled.fixed.estimate == pytest.approx(expected["theta"], rel=CLOSED_FORM)
    assert pooled.fixed.se == pytest.approx(expected["se"], rel=CLOSED_FORM)
    assert pooled.heterogeneity.q == pytest.approx(expected["q"], rel=CLOSED_FORM)
    assert pooled.heterogeneity.df == expected["df"]
    assert pooled.heterogeneity.i2 == pytest.approx(expected["i2"], rel=CLOSED_FORM)
    assert pooled.heterogeneity.tau2 == pytest.approx(expected["tau2"], rel=CLOSED_FORM, abs=1e-300)
    assert pooled.random.estimate == pytest.approx(expected["theta_r"], rel=CLOSED_FORM)
    assert pooled.random.se == pytest.approx(expected["se_r"], rel=CLOSED_FORM)
    weights = [s.weight_fixed for s in result.studies if s.estimable]
    np.testing.assert_allclose(weights, expected["weights"], rtol=CLOSED_FORM)
    assert pooled.fixed.ci_high - pooled.fixed.estimate == pytest.approx(Z95 * pooled.fixed.se,
                                                                         rel=1e-14)
    if measure != "RD":
        assert pooled.fixed.ratio == pytest.approx(math.exp(expected["theta"]), rel=CLOSED_FORM)


# Mantel–Haenszel RD, RevMan 5 / R meta ``metabin(..., method="MH", sm="RD", MH.exact=FALSE)``
# (meta is not installed here, so its MH RD branch is written out in plain R; R 4.2.2, metafor
# 3.8-1; last block of tests/analysis/engine/data/metafor_goldens.R):
#   mh_rd <- function(a, n1, c, n2) {
#     b <- n1 - a; d <- n2 - c; N <- n1 + n2
#     incr <- ifelse(a == 0 | b == 0 | c == 0 | d == 0, 0.5, 0)  # double-zero included for RD
#     J <- ((a+incr)*(b+incr)*(n2+2*incr)^3 + (c+incr)*(d+incr)*(n1+2*incr)^3) /
#          ((n1+2*incr)*(n2+2*incr)*(N+4*incr)^2)
#     K <- (n1+2*incr)*(n2+2*incr)/(N+4*incr)
#     RD <- a/n1 - c/n2
#     list(est=sum(K*RD)/sum(K), se=sqrt(sum(J)/sum(K)^2), w=100*K/sum(K)) }
# SPARSE (zero cells in four studies, a double-zero and an all-events study):
# R: r <- mh_rd(a=c(0,2,0,5,12,7), n1=c(10,20,15,25,12,30), c=c(3,0,0,9,10,7), n2=c(12,18,15,26,10,31))
SPARSE_RD_MH = {"estimate": -0.038700261657808446, "se": 0.04551932541421988,
                "weights": [10.293812827827162, 17.233138398474285, 13.821063377222485,
                            22.018850968614252, 10.293812827827162, 26.339321600034655]}
# The mixture issue 23 reported (J corrected, K uncorrected), which the engine must not give:
# R: sqrt(sum(J))/sum(n1*n2/N)  with J as in mh_rd
SPARSE_RD_MH_SE_MIXTURE = 0.047155932004383581
# BCG has no zero cell, so the same rule is plain Greenland & Robins (1985):
# R: coef(rma.mh(ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg, measure="RD"))
BCG_RD_MH_ESTIMATE = -0.0032881818326129996
# R: a <- as.numeric(dat.bcg$tpos); b <- as.numeric(dat.bcg$tneg); c <- as.numeric(dat.bcg$cpos)
#    d <- as.numeric(dat.bcg$cneg); n1 <- a+b; n2 <- c+d; N <- n1+n2
#    sqrt(sum((a*b*n2^3 + c*d*n1^3)/(n1*n2*N^2)) / sum(n1*n2/N)^2)
#    (rma.mh's own SE, 0.00028665674852737364, is Sato's estimator, not RevMan's)
BCG_RD_MH_SE_GREENLAND_ROBINS = 0.00028451592189694111


def test_mantel_haenszel_risk_difference_corrects_weights_and_variance_of_zero_cell_studies():
    result = _analyse(SPARSE, "RD", method="MH")
    pooled = result.overall
    assert pooled.fixed.estimate == pytest.approx(SPARSE_RD_MH["estimate"], rel=1e-12)
    assert pooled.fixed.se == pytest.approx(SPARSE_RD_MH["se"], rel=1e-12)
    assert pooled.fixed.ci_low == pytest.approx(
        SPARSE_RD_MH["estimate"] - Z95 * SPARSE_RD_MH["se"], rel=1e-12)
    # The forest plot's MH weight is the corrected K, normalised.
    weights = [s.weight_fixed for s in result.studies]
    np.testing.assert_allclose(weights, SPARSE_RD_MH["weights"], rtol=1e-12)
    assert abs(pooled.fixed.se - SPARSE_RD_MH_SE_MIXTURE) > 1e-3
    # The double-zero study keeps RD 0 from its observed counts, with weight K = 16·16/32.
    assert result.studies[2].effect == 0.0
    assert result.studies[2].weight_fixed == pytest.approx(
        100 * 8 / sum((n1 + 2 * i) * (n2 + 2 * i) / (n1 + n2 + 4 * i) for n1, n2, i in zip(
            SPARSE.total1, SPARSE.total2, [0.5, 0.5, 0.5, 0, 0.5, 0])), rel=1e-12)


def test_mantel_haenszel_risk_difference_without_zero_cells_is_greenland_robins():
    pooled = _analyse(BCG, "RD", method="MH").overall
    assert pooled.fixed.estimate == pytest.approx(BCG_RD_MH_ESTIMATE, rel=1e-12)
    assert pooled.fixed.se == pytest.approx(BCG_RD_MH_SE_GREENLAND_ROBINS, rel=1e-12)


def test_mantel_haenszel_differs_from_metafor_where_revman_corrects_zero_cells():
    # metafor's rma.mh adds nothing in the MH step; RevMan adds 0.5 to zero-cell studies.
    plain = reference_mh(SPARSE, "OR")["theta"]
    assert _analyse(SPARSE, "OR", method="MH").overall.fixed.estimate == pytest.approx(plain)
    uncorrected_r = sum(a * (n2 - c) / (n1 + n2) for a, n1, c, n2 in
                        zip(SPARSE.events1, SPARSE.total1, SPARSE.events2, SPARSE.total2)
                        if not (a == 0 and c == 0) and not (a == n1 and c == n2))
    uncorrected_s = sum((n1 - a) * c / (n1 + n2) for a, n1, c, n2 in
                        zip(SPARSE.events1, SPARSE.total1, SPARSE.events2, SPARSE.total2)
                        if not (a == 0 and c == 0) and not (a == n1 and c == n2))
    assert abs(plain - math.log(uncorrected_r / uncorrected_s)) > 0.01


def reference_iv(y, se):
    w = [1 / s**2 for s in se]
    theta = sum(wi * yi for wi, yi in zip(w, y)) / sum(w)
    q = sum(wi * (yi - theta) ** 2 for wi, yi in zip(w, y))
    df = len(y) - 1
    tau2 = max(0.0, (q - df) / (sum(w) - sum(wi * wi for wi in w) / sum(w)))
    ws = [1 / (s**2 + tau2) for s in se]
    theta_r = sum(wi * yi for wi, yi in zip(ws, y)) / sum(ws)
    se_r = math.sqrt(1 / sum(ws))
    return {"theta": theta, "se": math.sqrt(1 / sum(w)), "q": q, "p_q": chi2.sf(q, df), "tau2": tau2,
                "theta_r": theta_r, "se_r": se_r, "z_r": theta_r / se_r,
                "p_r": 2 * norm.sf(abs(theta_r / se_r)), "i2": max(0.0, (q - df) / q) * 100,
                "weights_r": [100 * x / sum(ws) for x in ws]}


def revman_smd(n1, m1, s1, n2, m2, s2):
    total = n1 + n2
    s = math.sqrt(((n1 - 1) * s1 * s1 + (n2 - 1) * s2 * s2) / (total - 2))
    g = (m1 - m2) / s * (1 - 3 / (4 * total - 9))
    return g, math.sqrt(total / (n1 * n2) + g * g / (2 * (total - 3.94)))


def test_revman_smd_pools_with_inverse_variance_and_dersimonian_laird():
    rows = zip(NORMAND.n1, NORMAND.mean1, NORMAND.sd1, NORMAND.n2, NORMAND.mean2, NORMAND.sd2)
    y, se = zip(*(revman_smd(*row) for row in rows))
    expected = reference_iv(y, se)
    result = _analyse(NORMAND, "SMD")
    pooled = result.overall
    assert pooled.fixed.estimate == pytest.approx(expected["theta"], rel=CLOSED_FORM)
    assert pooled.fixed.se == pytest.approx(expected["se"], rel=CLOSED_FORM)
    assert pooled.heterogeneity.q == pytest.approx(expected["q"], rel=CLOSED_FORM)
    assert pooled.heterogeneity.p == pytest.approx(expected["p_q"], rel=1e-8)
    assert pooled.heterogeneity.i2 == pytest.approx(expected["i2"], rel=CLOSED_FORM)
    assert pooled.random.tau2 == pytest.approx(expected["tau2"], rel=CLOSED_FORM)
    assert pooled.random.estimate == pytest.approx(expected["theta_r"], rel=CLOSED_FORM)
    assert pooled.random.statistic == pytest.approx(expected["z_r"], rel=CLOSED_FORM)
    assert pooled.random.p == pytest.approx(expected["p_r"], rel=1e-9)
    np.testing.assert_allclose([s.weight_random for s in result.studies], expected["weights_r"],
                               rtol=CLOSED_FORM)
    assert sum(s.weight_fixed for s in result.studies) == pytest.approx(100.0, rel=1e-12)


@pytest.mark.parametrize("golden, method", [(HOMOG_DL, "DL"), (HOMOG_REML, "REML"),
                                            (HOMOG_PM, "PM")])
def test_q_below_df_truncates_tau2_and_i2_at_zero(golden, method):
    pooled = _analyse(HOMOG, "GENERIC", tau2_method=method).overall
    assert pooled.heterogeneity.q < pooled.heterogeneity.df
    assert pooled.heterogeneity.tau2 == 0.0 and pooled.heterogeneity.i2 == 0.0
    assert pooled.heterogeneity.tau2_converged
    _check(pooled.random, golden, CLOSED_FORM, q=pooled.heterogeneity.q)
    assert pooled.random.estimate == pooled.fixed.estimate


def test_a_single_study_pools_to_itself():
    result = _analyse(GenericEstimates([0.3], [0.2]), "GENERIC", hksj=True)
    pooled = result.overall
    for estimate in (pooled.fixed,):
        assert (estimate.estimate, estimate.se) == (0.3, pytest.approx(0.2, rel=1e-15))
        assert estimate.ci_low == pytest.approx(0.3 - Z95 * 0.2, rel=1e-15)
    assert pooled.random.estimate == 0.3 and pooled.k == 1
    het = pooled.heterogeneity
    assert (het.q, het.df, het.tau2) == (0.0, 0, 0.0) and math.isnan(het.p)
    assert math.isnan(het.i2)  # not applicable, not 0 % or 100 %
    # No t distribution on 0 df, and no prediction interval below k = 3.
    assert math.isnan(pooled.random.ci_low) and math.isnan(pooled.random.prediction_low)
    assert math.isnan(pooled.random.statistic) and math.isnan(pooled.random.p)
    assert result.egger is None and result.leave_one_out[0].pooled.k == 0


@pytest.mark.parametrize("method", ["DL", "REML", "PM"])
def test_identical_studies_have_no_heterogeneity(method):
    pooled = _analyse(GenericEstimates([0.4] * 6, [0.3] * 6), "GENERIC", tau2_method=method).overall
    assert pooled.heterogeneity.q == pytest.approx(0.0, abs=1e-25)
    assert pooled.heterogeneity.tau2 == 0.0 and pooled.heterogeneity.i2 == 0.0
    assert pooled.random.estimate == pytest.approx(0.4, rel=1e-15)
    assert pooled.random.se == pytest.approx(0.3 / math.sqrt(6), rel=1e-14)


@pytest.mark.parametrize("method", ["REML", "PM"])
def test_non_convergence_is_reported_not_hidden(method):
    result = _analyse(NORMAND, "MD", tau2_method=method, max_iter=2)
    het = result.overall.heterogeneity
    # REML may restart once from its likelihood profile: 2 iterations per run, counted together.
    assert not het.tau2_converged and het.tau2_iterations == (2 if method == "PM" else 4)
    assert any(f"did not converge after {het.tau2_iterations} iterations" in w for w in result.warnings)
    converged = _analyse(NORMAND, "MD", tau2_method=method).overall.heterogeneity
    assert converged.tau2_converged and 2 < converged.tau2_iterations < 100
    assert het.tau2 != pytest.approx(converged.tau2, rel=1e-6)


def test_model_rule_picks_by_i2_threshold_but_computes_both():
    heterogeneous = _analyse(NORMAND, "MD")  # I² = 96.7%
    assert heterogeneous.chosen_model is Model.RANDOM
    assert heterogeneous.chosen == heterogeneous.overall.random
    assert _analyse(HOMOG, "GENERIC").chosen_model is Model.FIXED
    i2 = heterogeneous.overall.heterogeneity.i2
    assert _analyse(NORMAND, "MD", i2_threshold=i2).chosen_model is Model.RANDOM  # I² ≥ threshold
    assert _analyse(NORMAND, "MD", i2_threshold=min(100.0, i2 + 1e-9)).chosen_model is Model.FIXED
    forced = _analyse(NORMAND, "MD", model_rule="fixed")
    assert forced.chosen_model is Model.FIXED
    assert forced.overall.random == heterogeneous.overall.random


@pytest.mark.parametrize("level", [0.95, 0.9, 0.99])
def test_intervals_use_the_exact_normal_quantile(level):
    pooled = _analyse(NORMAND, "MD", level=level).overall
    z = norm.ppf(0.5 + level / 2)
    assert (pooled.fixed.ci_high - pooled.fixed.estimate) / pooled.fixed.se == pytest.approx(z, rel=1e-14)
    if level == 0.95:
        assert (pooled.random.estimate - pooled.random.ci_low) / pooled.random.se == pytest.approx(Z95, rel=1e-14)


def test_ratios_are_exponentiated_and_favoured_side_follows_direction():
    lower_better = analyse(BCG, options=AnalysisOptions(measure="RR"),
                           direction=Direction.LOWER_IS_BETTER)
    random = lower_better.overall.random
    assert random.ratio == pytest.approx(math.exp(random.estimate), rel=1e-15)
    assert random.ratio_ci_low == pytest.approx(math.exp(random.ci_low), rel=1e-15)
    assert random.ratio < 1 and random.favours is Favours.EXPERIMENTAL and random.ci_excludes_null
    assert lower_better.labels.left == "Favours experimental"
    higher_better = analyse(BCG, options=AnalysisOptions(measure="RR"), direction="higher")
    assert higher_better.overall.random.favours is Favours.CONTROL
    assert higher_better.labels.right == "Favours experimental"
    # The numbers themselves never flip with the direction.
    assert higher_better.overall.random.estimate == random.estimate


def test_mantel_haenszel_needs_a_dichotomous_measure():
    with pytest.raises(ValueError, match="Mantel"):
        AnalysisOptions(measure="SMD", method="MH")


@pytest.mark.parametrize("measure, method", [("RR", "IV"), ("RR", "MH"), ("OR", "IV"), ("OR", "MH")])
def test_all_events_in_both_arms_is_not_estimable_for_ratios(measure, method):
    # Cochrane Handbook v6 10.4.4.1: studies with no events or all events in both arms give no
    # information on the ratio and are omitted; RevMan 5 shows them "Not estimable". (R meta keeps
    # the all-events study for RR with a 0.5 correction; metafor's drop00=TRUE drops it, as we do:
    # the SPARSE_RR_* goldens above come from escalc(..., drop00=TRUE).)
    result = _analyse(SPARSE, measure, method=method)
    all_events = result.studies[4]  # 12/12 vs 10/10
    no_events = result.studies[2]  # 0/15 vs 0/15
    assert all_events.status is StudyStatus.ALL_EVENTS and not all_events.estimable
    assert no_events.status is StudyStatus.NO_EVENTS
    assert math.isnan(all_events.effect) and all_events.weight_fixed == 0.0
    assert result.overall.k == 4 and result.overall.heterogeneity.df == 3
    assert any("row 4: not estimable (all participants had the event in both arms)" in w
               for w in result.warnings)
    if measure == "RR" and method == "IV":
        _check(result.overall.fixed, SPARSE_RR_FE, CLOSED_FORM, q=result.overall.heterogeneity.q)


@pytest.mark.parametrize("method", ["IV", "MH"])
def test_risk_difference_keeps_studies_with_no_or_all_events(method):
    result = _analyse(SPARSE, "RD", method=method)
    all_events, no_events = result.studies[4], result.studies[2]
    assert all_events.estimable and no_events.estimable and result.overall.k == 6
    # RD = 12/12 − 10/10 = 0; SE from the 0.5-corrected cells (Deeks & Higgins 2010).
    assert all_events.effect == 0.0 and no_events.effect == 0.0
    assert all_events.se == pytest.approx(math.sqrt(12.5 * 0.5 / 13**3 + 10.5 * 0.5 / 11**3), rel=1e-15)
    assert all_events.zero_cell_corrected and all_events.weight_fixed > 0.0
