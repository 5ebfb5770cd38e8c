"""Per-study effect sizes against metafor's escalc and RevMan's published formulas.

Golden numbers come from R 4.2.2 with metafor 3.8-1 (Debian r-cran-metafor); the R call
that produced each one is in the comment above it (script:
tests/analysis/engine/data/metafor_goldens.R). Where RevMan 5 deliberately differs
from metafor (SMD standard error, RD with zero cells) the expected values come from
scalar re-implementations of Deeks & Higgins (2010) written here, independently of
the vectorised engine code.
"""

import math

import numpy as np
import pytest

from analysis.engine import (
    MIN_WEIGHABLE_SE,
    ContinuousArms,
    DichotomousArms,
    GenericEstimates,
    Measure,
    StudyStatus,
    study_effects,
)

NAN = math.nan

# metafor::dat.normand1999 (arm 1 = specialist stroke care)
NORMAND = {
    "n1": [155, 31, 75, 18, 8, 57, 34, 110, 60], "mean1": [55, 27, 64, 66, 14, 19, 52, 21, 30],
    "sd1": [47, 7, 17, 20, 8, 7, 45, 16, 27], "n2": [156, 32, 71, 18, 13, 52, 33, 183, 52],
    "mean2": [75, 29, 119, 137, 18, 18, 41, 31, 23], "sd2": [64, 4, 29, 48, 11, 4, 34, 27, 20],
}
# metafor::dat.bcg: tpos/tneg vaccinated, cpos/cneg control
BCG_TPOS = [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27]
BCG_TNEG = [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886]
BCG_CPOS = [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29]
BCG_CNEG = [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825]
BCG = DichotomousArms(BCG_TPOS, np.add(BCG_TPOS, BCG_TNEG), BCG_CPOS, np.add(BCG_CPOS, BCG_CNEG))
# Sparse: zero cells (rows 0, 1), no events in either arm (row 2), all events (row 4)
SPARSE = DichotomousArms([0, 2, 0, 5, 12, 7], [10, 20, 15, 25, 12, 30],
                         [3, 0, 0, 9, 10, 7], [12, 18, 15, 26, 10, 31])

# R: md$yi
NORMAND_MD_YI = [-20, -2, -55, -71, -4, 1, 11, -10, 7]
# R: md$vi
NORMAND_MD_VI = [40.50802315963606, 2.0806451612903225, 15.698403755868545, 150.22222222222223, 17.307692307692307, 1.1673414304993253, 94.589126559714799, 6.3108792846497765, 19.842307692307692]
# R: smd$yi
NORMAND_SMD_EXACT_YI = [-0.35516964094010689, -0.34794002273909852, -2.3175691601637305, -1.8879822529368466, -0.38396414116970129, 0.17214866906959103, 0.2720520738529319, -0.42459627189426086, 0.28955623008075509]
# R: smd$vi
NORMAND_SMD_EXACT_VI = [0.013064675541529683, 0.064468876098856681, 0.045812110280182811, 0.16061773593617348, 0.20543327839222422, 0.036910570000361909, 0.060267125836432664, 0.014863038419332694, 0.036271734158054549]
# R: bcg_or$yi
BCG_OR_YI = [-0.93869414087039216, -1.6661907290265496, -1.3862943611198908, -1.4564435493129846, -0.21914108567543256, -0.95812204077626739, -1.633775838228896, 0.012020601452732649, -0.47174603583869601, -1.401210139283481, -0.34084964636621073, 0.44663468227444625, -0.017341873929093587]
# R: bcg_or$vi
BCG_OR_VI = [0.35712495225362872, 0.208132393657186, 0.43341307814992025, 0.020314412973197363, 0.051951777317120272, 0.0099052655153382407, 0.22700967522349361, 0.0040069620121488307, 0.056977123987762661, 0.075421726314920404, 0.012525133820215518, 0.53416217247471709, 0.071635117295658746]
# R: bcg_rr$yi
BCG_RR_YI = [-0.88931133392020545, -1.5853886572014306, -1.3480731482996933, -1.4415511900213054, -0.21754732221129558, -0.78611558581886398, -1.6208982235983918, 0.011952333523840508, -0.4694176487381494, -1.3713448034727844, -0.33935882833839059, 0.44591340057137874, -0.017313948216879815]
# R: bcg_rr$vi
BCG_RR_VI = [0.32558476500396133, 0.19458112139814385, 0.41536796536796539, 0.020010031902247573, 0.051210172169630863, 0.0069056184559087574, 0.22301724757231517, 0.0039615792978177295, 0.056434210463248966, 0.07302479361302891, 0.01241221397155972, 0.53250584520015276, 0.071404659683986293]
# R: bcg_rd$yi
BCG_RD_YI = [-0.046616365444229972, -0.076101727819840814, -0.037012987012987011, -0.014714618026393848, -0.0015821267065460826, -0.13956764584472833, -0.012754832724785342, 6.7880214048941963e-05, -0.002316684687178207, -0.029132279132279136, -0.0014842349885014817, 0.00072009765009786535, -2.7880742167009798e-05]
# R: bcg_rd$vi
BCG_RD_VI = [0.00078006866485593796, 0.00034846257472658307, 0.00027139978563068461, 1.8028549353363776e-06, 2.6579724826031939e-06, 0.00019833565414980573, 2.6104856229552035e-05, 1.2777444567839109e-07, 1.3582263060433112e-06, 2.8247503707642771e-05, 2.5997146918559678e-07, 1.3463933597368239e-06, 1.8506680125160208e-07]
# R: sparse_or$yi  # from escalc(measure='OR', ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=sparse, add=1/2, to='only0', drop00=TRUE)
SPARSE_OR_YI = [-2.0459936076122958, 1.6094379124341005, NAN, -0.75030559439989386, NAN, 0.042559614418796077]
# R: sparse_or$vi
SPARSE_OR_VI = [2.4862155388471177, 2.5081081081081078, NAN, 0.41993464052287582, NAN, 0.37085921325051757]
# R: sparse_rr$yi  # from escalc(measure='RR', ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=sparse, add=1/2, to='only0', drop00=TRUE)
SPARSE_RR_YI = [-1.7788560643921469, 1.5093544538771178, NAN, -0.54856595174883749, NAN, 0.032789822822991033]
# R: sparse_rr$vi
SPARSE_RR_VI = [2.1178821178821177, 2.2997493734335839, NAN, 0.23264957264957262, NAN, 0.22012288786482334]


def _close(actual, expected, rel=1e-12):
    np.testing.assert_allclose(actual, expected, rtol=rel, atol=0, equal_nan=True)


@pytest.mark.parametrize(
    "measure, yi, vi",
    [
        (Measure.MD, NORMAND_MD_YI, NORMAND_MD_VI),
        (Measure.SMD_EXACT, NORMAND_SMD_EXACT_YI, NORMAND_SMD_EXACT_VI),
    ],
)
def test_continuous_effects_match_metafor_escalc(measure, yi, vi):
    effects = study_effects(ContinuousArms(**NORMAND), measure)
    _close(effects.effect, yi)
    _close(effects.se**2, vi)


@pytest.mark.parametrize(
    "measure, yi, vi",
    [
        (Measure.OR, BCG_OR_YI, BCG_OR_VI),
        (Measure.RR, BCG_RR_YI, BCG_RR_VI),
        (Measure.RD, BCG_RD_YI, BCG_RD_VI),
    ],
)
def test_dichotomous_effects_match_metafor_without_zero_cells(measure, yi, vi):
    effects = study_effects(BCG, measure)
    _close(effects.effect, yi)
    _close(effects.se**2, vi)
    assert not effects.zero_cell_corrected.any()


@pytest.mark.parametrize(
    "measure, yi, vi",
    [(Measure.OR, SPARSE_OR_YI, SPARSE_OR_VI), (Measure.RR, SPARSE_RR_YI, SPARSE_RR_VI)],
)
def test_zero_cells_get_half_added_and_double_zero_is_not_estimable(measure, yi, vi):
    effects = study_effects(SPARSE, measure)
    _close(effects.effect, yi)
    _close(effects.se**2, vi)
    assert list(effects.zero_cell_corrected) == [True, True, False, False, False, False]
    assert effects.status[2] == StudyStatus.NO_EVENTS
    assert effects.status[4] == StudyStatus.ALL_EVENTS
    assert list(effects.estimable) == [True, True, False, True, False, True]


def revman_smd(n1, m1, s1, n2, m2, s2):
    """Deeks & Higgins 2010, 2.1.2: Hedges' adjusted g and RevMan's SE, scalar."""
    total = n1 + n2
    s = math.sqrt(((n1 - 1) * s1 * s1 + (n2 - 1) * s2 * s2) / (total - 2))
    g = (m1 - m2) / s * (1 - 3 / (4 * total - 9))
    se = math.sqrt(total / (n1 * n2) + g * g / (2 * (total - 3.94)))
    return g, se


def test_smd_uses_revman_hedges_g_and_standard_error():
    effects = study_effects(ContinuousArms(**NORMAND), Measure.SMD)
    rows = zip(*(NORMAND[k] for k in ("n1", "mean1", "sd1", "n2", "mean2", "sd2")))
    expected = [revman_smd(*row) for row in rows]
    _close(effects.effect, [g for g, _ in expected], rel=1e-13)
    _close(effects.se, [se for _, se in expected], rel=1e-13)
    # RevMan's approximation and metafor's exact variant agree to ~1%, never exactly.
    exact = study_effects(ContinuousArms(**NORMAND), Measure.SMD_EXACT)
    assert np.all(np.abs(effects.effect / exact.effect - 1) < 0.01)
    assert not np.any(effects.effect == exact.effect)


def revman_rd(a, n1, c, n2):
    """Deeks & Higgins 2010, 2.2.3: RD from observed counts; 0.5 added for the SE only."""
    b, d = n1 - a, n2 - c
    inc = 0.5 if 0 in (a, b, c, d) else 0.0
    ac, bc, cc, dc = a + inc, b + inc, c + inc, d + inc
    se = math.sqrt(ac * bc / (n1 + 2 * inc) ** 3 + cc * dc / (n2 + 2 * inc) ** 3)
    return a / n1 - c / n2, se


def test_risk_difference_keeps_double_zero_studies_at_exactly_zero():
    effects = study_effects(SPARSE, Measure.RD)
    expected = [revman_rd(*row) for row in zip(SPARSE.events1, SPARSE.total1,
                                                 SPARSE.events2, SPARSE.total2)]
    _close(effects.effect, [rd for rd, _ in expected], rel=1e-14)
    _close(effects.se, [se for _, se in expected], rel=1e-14)
    assert effects.estimable.all()
    assert effects.effect[2] == 0.0


def test_invalid_rows_are_flagged_not_pooled():
    arms = DichotomousArms([5, 11, -1, 3], [10, 10, 10, 0], [2, 2, 2, 2], [10, 10, 10, 10])
    effects = study_effects(arms, Measure.OR)
    assert list(effects.status) == [StudyStatus.ESTIMABLE] + [StudyStatus.INVALID] * 3
    assert np.isnan(effects.effect[1:]).all()
    continuous = ContinuousArms([10, 10, 10], [1, 1, 1], [2, -1, 0], [10, 10, 10],
                                [0, 0, 0], [2, 2, 0])
    status = study_effects(continuous, Measure.MD).status
    assert list(status) == [StudyStatus.ESTIMABLE, StudyStatus.INVALID, StudyStatus.ZERO_VARIANCE]
    generic = study_effects(GenericEstimates([0.1, 0.2, NAN], [0.1, 0.0, 0.1]), Measure.GENERIC)
    assert list(generic.status) == [StudyStatus.ESTIMABLE, StudyStatus.ZERO_VARIANCE,
                                    StudyStatus.INVALID]


def test_an_se_whose_square_underflows_is_zero_variance_not_a_nan_pool():
    # 1e-160² underflows to a subnormal and its weight to infinity: pooled, it made every estimate NaN.
    tiny = study_effects(GenericEstimates([0.1, 0.2, 0.3], [1e-160, 0.1, 0.2]), Measure.GENERIC)
    assert list(tiny.status) == [StudyStatus.ZERO_VARIANCE, StudyStatus.ESTIMABLE, StudyStatus.ESTIMABLE]
    smallest = study_effects(GenericEstimates([0.1], [MIN_WEIGHABLE_SE]), Measure.GENERIC)
    assert smallest.estimable.all() and np.isfinite(1 / smallest.se[0] ** 2)
    continuous = study_effects(ContinuousArms([10], [1.0], [1e-160], [10], [0.0], [1e-160]), Measure.MD)
    assert list(continuous.status) == [StudyStatus.ZERO_VARIANCE]


def test_very_large_samples_do_not_overflow():
    big = 10.0**9
    arms = ContinuousArms([big], [1.0], [2.0], [big], [0.0], [2.0])
    for measure in (Measure.SMD, Measure.SMD_EXACT):
        effects = study_effects(arms, measure)
        assert effects.effect[0] == pytest.approx(0.5, rel=1e-8)
        assert effects.se[0] == pytest.approx(math.sqrt(2 / big + 0.25 / (4 * big)), rel=1e-6)
    counts = DichotomousArms([3e11], [1e12], [2e11], [1e12])
    for measure in (Measure.OR, Measure.RR, Measure.RD):
        effects = study_effects(counts, measure)
        assert np.isfinite(effects.effect).all() and (effects.se > 0).all()


def test_measure_and_data_kind_must_agree():
    with pytest.raises(TypeError):
        study_effects(BCG, Measure.SMD)
    with pytest.raises(TypeError):
        study_effects(ContinuousArms(**NORMAND), Measure.OR)
    with pytest.raises(ValueError):
        ContinuousArms([1, 2], [1], [1], [1], [1], [1])
