"""Subgroups, leave-one-out, cumulative meta-analysis and the batch path.

metafor goldens: R 4.2.2, metafor 3.8-1, R call above each number (script:
tests/analysis/engine/data/metafor_goldens.R). The Mantel–Haenszel and iterative
leave-one-out closed forms are also checked against brute force: the full analysis
re-run on each subset.
"""

import math

import numpy as np
import pytest

from analysis.engine import (
    AnalysisOptions,
    ContinuousArms,
    DichotomousArms,
    GenericEstimates,
    analyse,
    analyse_batch,
)

NAN = math.nan
NORMAND_COLUMNS = {
    "n1": [155, 31, 75, 18, 8, 57, 34, 110, 60], "mean1": [55, 27, 64, 66, 14, 19, 52, 21, 30],
    "sd1": [47, 7, 17, 20, 8, 7, 45, 16, 27], "n2": [156, 32, 71, 18, 13, 52, 33, 183, 52],
    "mean2": [75, 29, 119, 137, 18, 18, 41, 31, 23], "sd2": [64, 4, 29, 48, 11, 4, 34, 27, 20],
}
NORMAND = ContinuousArms(**NORMAND_COLUMNS)
NORMAND_GROUP = [1, 1, 1, 1, 2, 2, 2, 2, 2]
BCG_A = [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27]
BCG_N1 = list(np.add(BCG_A, [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886]))
BCG_C = [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29]
BCG_N2 = list(np.add(BCG_C, [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825]))
BCG = DichotomousArms(BCG_A, BCG_N1, BCG_C, BCG_N2)
BCG_RANDOM_ALLOCATION = [1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0]  # dat.bcg$alloc == "random"
SPARSE = DichotomousArms([0, 2, 0, 5, 12, 7, 1], [10, 20, 15, 25, 12, 30, 40],
                         [3, 0, 0, 9, 10, 7, 4], [12, 18, 15, 26, 10, 31, 38])

# R: rma(yi, vi, data=md, subset=grp==1, method='DL')
NORMAND_MD_SUB1_DL = {"estimate": -36.046343569897616, "se": 16.994105431162627, "ci_low": -69.35417816445289, "ci_high": -2.7385089753423415, "statistic": -2.1211086229816076, "p": 0.033912662464878757, "q": 186.80826739730819, "tau2": 1105.869967318059}
# R: rma(yi, vi, data=md, subset=grp==2, method='DL')
NORMAND_MD_SUB2_DL = {"estimate": -0.76385803280453235, "se": 3.2937638224200292, "ci_low": -7.2195164983287707, "ci_high": 5.691800432719706, "statistic": -0.23191038398232891, "p": 0.81660761912980118, "q": 21.163714668301139, "tau2": 37.376657094116155}
# R: rma(yi, vi, mods=~factor(grp), data=md, method='FE')
NORMAND_MD_SUBTEST_FE = {"q": 30.943828796400272, "p": 2.6560529022840297e-08}
# R: with(list(f=lapply(1:2, function(g) rma(yi, vi, data=md, subset=grp==g, method='DL'))), rma(sapply(f, function(x) x$b[1]), sei=sapply(f, function(x) x$se), method='FE'))
NORMAND_MD_SUBTEST_DL = {"q": 4.1543801742887094, "p": 0.041526969926982661}
# R: rma(yi, vi, data=bcg_rr, subset=random==1, method='DL')
BCG_RR_SUB_RANDOM_DL = {"estimate": -1.004161353998235, "se": 0.36210679874100876, "ci_low": -1.7138776380877059, "ci_high": -0.29444506990876418, "statistic": -2.7731082583634277, "p": 0.0055523646078626861, "q": 110.21326117518791, "tau2": 0.76306275437095272}
# R: rma(yi, vi, data=bcg_rr, subset=random==0, method='DL')
BCG_RR_SUB_OTHER_DL = {"estimate": -0.49466379663570881, "se": 0.18190012356277421, "ci_low": -0.85118148760213186, "ci_high": -0.13814610566928576, "statistic": -2.7194252920064623, "p": 0.0065395465658772004, "q": 28.298019840136032, "tau2": 0.13574314624053221}
# R: rma(yi, vi, mods=~factor(random), data=bcg_rr, method='FE')
BCG_RR_SUBTEST_FE = {"q": 13.721727067049226, "p": 0.00021198785043876061}
# R: with(list(f=lapply(0:1, function(g) rma(yi, vi, data=bcg_rr, subset=random==g, method='DL'))), rma(sapply(f, function(x) x$b[1]), sei=sapply(f, function(x) x$se), method='FE'))
BCG_RR_SUBTEST_DL = {"q": 1.5808377062538685, "p": 0.20864006993570972}
# R: leave1out(rma(yi, vi, data=md, method='DL'))$estimate
NORMAND_MD_LOO_DL_ESTIMATE = [-13.266759505542536, -16.374785318239919, -6.1566575069650824, -9.4628431479472965, -15.413278066528788, -16.751599071374045, -16.394107684719312, -14.762632807861856, -16.805069756478346]
# R: leave1out(rma(yi, vi, data=md, method='DL'))$ci.lb
NORMAND_MD_LOO_DL_CI_LOW = [-23.918439014684772, -30.588516056462048, -12.2842851826925, -19.310178051118616, -26.472279915136774, -30.685147141123238, -26.948833425222276, -26.336686636521634, -27.69093711891427]
# R: leave1out(rma(yi, vi, data=md, method='DL'))$tau2
NORMAND_MD_LOO_DL_TAU2 = [206.24212745829684, 382.48377755480743, 54.002874683433767, 180.617348262154, 221.28960478997183, 366.09664372931871, 206.92364508732069, 243.41466679260236, 213.9239653006685]
# R: leave1out(rma(yi, vi, data=md, method='DL'))$I2
NORMAND_MD_LOO_DL_I2 = [96.983621065258092, 97.052427817137087, 88.920241279491549, 96.64162826702055, 97.069886628607151, 96.580441140444165, 97.042550338531257, 96.975644047897532, 96.998675144069225]
# R: leave1out(rma(yi, vi, data=md, method='DL'))$Q
NORMAND_MD_LOO_DL_Q = [232.06633355563352, 237.48358193559352, 63.178271084939048, 208.43434129877613, 238.89860605197299, 204.70476712043535, 236.69041915403631, 231.45423722805344, 233.23033446938044]
# R: leave1out(rma(yi, vi, data=md, method='FE'))$estimate
NORMAND_MD_LOO_FE_ESTIMATE = [-3.2213179872567457, -4.0360306607454737, -1.4689126430623678, -3.1995997631458524, -3.4448497974713703, -7.9470059502129979, -3.5536155680895338, -2.7958537651040869, -3.781455313093943]
# R: leave1out(rma(yi, vi, data=md, method='REML', control=list(threshold=1e-12, tol=1e-15, maxiter=1000)))$tau2
NORMAND_MD_LOO_REML_TAU2 = [793.59623172471083, 773.32462901690155, 459.93325847517724, 412.25148499144888, 781.11504309176871, 756.82167782336205, 695.02589969207327, 799.4812357309595, 715.30749644181446]
# R: leave1out(rma(yi, vi, data=md, method='REML', control=list(threshold=1e-12, tol=1e-15, maxiter=1000)))$estimate
NORMAND_MD_LOO_REML_ESTIMATE = [-14.601447041704928, -16.91205655305161, -9.5595455495844508, -9.2699150543839703, -16.624271762210338, -17.295733987413502, -18.109230024702317, -15.879929792739745, -17.969006703624125]
# R: leave1out(rma(yi, vi, data=md, method='PM', test='knha', control=list(threshold=1e-12, tol=1e-15, maxiter=1000)))$ci.ub
NORMAND_MD_LOO_PM_KNHA_CI_HIGH = [10.096647256931734, 7.4784614669474863, 10.622962611368191, 8.1872205642241305, 7.8646855135342975, 6.8698842763724102, 4.970469120828497, 8.8730388603548018, 5.5852122037976244]
# R: cumul(rma(yi, vi, data=md, method='DL'), order=9:1)$estimate
NORMAND_MD_CUMUL_DL_ESTIMATE = [7, -1.8979831884605254, 1.1957905423264288, 0.25767888961937002, -0.76385803280453257, -6.4286448877582885, -15.901135150975067, -13.266759505542529, -13.981721817043931]
# R: cumul(rma(yi, vi, data=md, method='DL'), order=9:1)$tau2
NORMAND_MD_CUMUL_DL_TAU2 = [0, 131.42340651152128, 128.32961944302443, 47.212155655368008, 37.376657094116148, 104.56281454541798, 397.93545450317242, 206.24212745829689, 205.40937546791082]
# R: cumul(rma(yi, vi, data=md, method='DL'), order=9:1)$ci.ub
NORMAND_MD_CUMUL_DL_CI_HIGH = [15.730601806722275, 14.743439489825654, 15.54303538121443, 8.1726832826187312, 5.691800432719706, 2.9506586253342455, -0.43207558220717424, -2.6150799964002953, -3.9335777125492264]

CLOSED_FORM = 1e-10
ITERATIVE = 1e-8


def _fields(pooled, golden, rel):
    random = pooled.random
    for field in ("estimate", "se", "ci_low", "ci_high", "statistic", "p"):
        assert getattr(random, field) == pytest.approx(golden[field], rel=rel), field
    assert pooled.heterogeneity.q == pytest.approx(golden["q"], rel=rel)
    assert pooled.heterogeneity.tau2 == pytest.approx(golden["tau2"], rel=rel)


@pytest.mark.parametrize(
    "data, measure, groups, goldens, test_fixed, test_random",
    [
        (NORMAND, "MD", NORMAND_GROUP, {1: NORMAND_MD_SUB1_DL, 2: NORMAND_MD_SUB2_DL},
         NORMAND_MD_SUBTEST_FE, NORMAND_MD_SUBTEST_DL),
        (BCG, "RR", BCG_RANDOM_ALLOCATION, {1: BCG_RR_SUB_RANDOM_DL, 0: BCG_RR_SUB_OTHER_DL},
         BCG_RR_SUBTEST_FE, BCG_RR_SUBTEST_DL),
    ],
)
def test_subgroups_each_get_their_own_tau2_and_are_tested_for_differences(
    data, measure, groups, goldens, test_fixed, test_random
):
    result = analyse(data, options=AnalysisOptions(measure=measure), subgroup=groups)
    assert sorted(s.subgroup for s in result.subgroups) == sorted(goldens)
    for subgroup in result.subgroups:
        _fields(subgroup.pooled, goldens[subgroup.subgroup], CLOSED_FORM)
    for test, golden in ((result.subgroup_test_fixed, test_fixed),
                         (result.subgroup_test_random, test_random)):
        assert test.df == 1
        assert test.q == pytest.approx(golden["q"], rel=CLOSED_FORM)
        assert test.p == pytest.approx(golden["p"], rel=1e-9)
        assert test.i2 == pytest.approx(max(0.0, (test.q - 1) / test.q) * 100, rel=1e-14)
    # The overall analysis ignores subgroups, as RevMan's "Total".
    assert result.overall == analyse(data, options=AnalysisOptions(measure=measure)).overall


def test_single_subgroup_has_no_test_for_differences():
    result = analyse(NORMAND, options=AnalysisOptions(measure="MD"), subgroup=[0] * 9)
    assert len(result.subgroups) == 1
    for test in (result.subgroup_test_fixed, result.subgroup_test_random):
        assert not test.applicable and test.subgroups == 1 and test.df == 0
        assert math.isnan(test.q) and math.isnan(test.p) and math.isnan(test.i2)
    # Without subgroup keys there is no test at all (not a "Not applicable" one).
    assert analyse(NORMAND, options=AnalysisOptions(measure="MD")).subgroup_test_fixed is None


def test_leave_one_out_matches_metafor_leave1out():
    dl = analyse(NORMAND, options=AnalysisOptions(measure="MD", model_rule="random"))
    rows = dl.leave_one_out
    assert [r.row for r in rows] == list(range(9))
    np.testing.assert_allclose([r.chosen.estimate for r in rows], NORMAND_MD_LOO_DL_ESTIMATE,
                               rtol=CLOSED_FORM)
    np.testing.assert_allclose([r.chosen.ci_low for r in rows], NORMAND_MD_LOO_DL_CI_LOW,
                               rtol=CLOSED_FORM)
    np.testing.assert_allclose([r.pooled.heterogeneity.tau2 for r in rows],
                               NORMAND_MD_LOO_DL_TAU2, rtol=CLOSED_FORM)
    np.testing.assert_allclose([r.pooled.heterogeneity.i2 for r in rows], NORMAND_MD_LOO_DL_I2,
                               rtol=CLOSED_FORM)
    np.testing.assert_allclose([r.pooled.heterogeneity.q for r in rows], NORMAND_MD_LOO_DL_Q,
                               rtol=CLOSED_FORM)
    np.testing.assert_allclose([r.pooled.fixed.estimate for r in rows],
                               NORMAND_MD_LOO_FE_ESTIMATE, rtol=CLOSED_FORM)
    reml = analyse(NORMAND, options=AnalysisOptions(measure="MD", tau2_method="REML"))
    np.testing.assert_allclose([r.pooled.heterogeneity.tau2 for r in reml.leave_one_out],
                               NORMAND_MD_LOO_REML_TAU2, rtol=ITERATIVE)
    np.testing.assert_allclose([r.pooled.random.estimate for r in reml.leave_one_out],
                               NORMAND_MD_LOO_REML_ESTIMATE, rtol=ITERATIVE)
    pm = analyse(NORMAND, options=AnalysisOptions(measure="MD", tau2_method="PM", hksj=True))
    np.testing.assert_allclose([r.pooled.random.ci_high for r in pm.leave_one_out],
                               NORMAND_MD_LOO_PM_KNHA_CI_HIGH, rtol=ITERATIVE)


def test_cumulative_matches_metafor_cumul_in_the_given_order():
    order = list(range(9, 0, -1))  # cumul(..., order=9:1): last study first
    result = analyse(NORMAND, options=AnalysisOptions(measure="MD", model_rule="random"),
                     order=order)
    rows = result.cumulative
    assert [r.row for r in rows] == list(range(8, -1, -1))
    assert [r.pooled.k for r in rows] == list(range(1, 10))
    np.testing.assert_allclose([r.chosen.estimate for r in rows], NORMAND_MD_CUMUL_DL_ESTIMATE,
                               rtol=CLOSED_FORM)
    np.testing.assert_allclose([r.pooled.heterogeneity.tau2 for r in rows],
                               NORMAND_MD_CUMUL_DL_TAU2, rtol=CLOSED_FORM, atol=1e-300)
    np.testing.assert_allclose([r.chosen.ci_high for r in rows], NORMAND_MD_CUMUL_DL_CI_HIGH,
                               rtol=CLOSED_FORM)
    assert rows[-1].pooled == result.overall


def _subset(data, keep):
    if isinstance(data, DichotomousArms):
        return DichotomousArms(data.events1[keep], data.total1[keep], data.events2[keep],
                               data.total2[keep])
    if isinstance(data, GenericEstimates):
        return GenericEstimates(data.effect[keep], data.se[keep])
    return ContinuousArms(data.n1[keep], data.mean1[keep], data.sd1[keep], data.n2[keep],
                          data.mean2[keep], data.sd2[keep])


def _assert_pooled_equal(actual, expected, rel):
    for model in ("fixed", "random"):
        a, e = getattr(actual, model), getattr(expected, model)
        for field in ("estimate", "se", "ci_low", "ci_high", "p"):
            assert getattr(a, field) == pytest.approx(getattr(e, field), rel=rel, nan_ok=True), (
                model, field)
    for field in ("q", "i2", "tau2"):
        assert getattr(actual.heterogeneity, field) == pytest.approx(
            getattr(expected.heterogeneity, field), rel=rel, abs=1e-12, nan_ok=True), field
    assert actual.random.prediction_low == pytest.approx(expected.random.prediction_low,
                                                         rel=rel, nan_ok=True)


@pytest.mark.parametrize(
    "data, options",
    [
        (BCG, {"measure": "OR", "method": "MH"}),
        (BCG, {"measure": "RD", "method": "MH", "hksj": True}),
        (SPARSE, {"measure": "RR", "method": "MH"}),
        (SPARSE, {"measure": "RD", "method": "MH"}),
        (BCG, {"measure": "RR", "tau2_method": "REML", "hksj": True}),
        (BCG, {"measure": "OR", "tau2_method": "PM"}),
        (NORMAND, {"measure": "SMD", "hksj": True}),
    ],
)
def test_leave_one_out_and_cumulative_equal_full_reruns(data, options):
    opts = AnalysisOptions(**options)
    n = len(data)
    result = analyse(data, options=opts, order=np.arange(n)[::-1])
    estimable = [s.row for s in result.studies if s.estimable]
    assert [r.row for r in result.leave_one_out] == estimable  # input order, always
    rel = 1e-9 if opts.tau2_method.value == "DL" else 1e-7
    for row in result.leave_one_out:
        keep = np.arange(n) != row.row
        _assert_pooled_equal(row.pooled, analyse(_subset(data, keep), options=opts).overall, rel)
    for row in result.cumulative:
        keep = np.arange(n) >= row.row
        _assert_pooled_equal(row.pooled, analyse(_subset(data, keep), options=opts).overall, rel)


def test_batch_of_many_analyses_equals_one_call_per_analysis():
    rng = np.random.default_rng(7)
    sizes = [9, 1, 2, 0, 13, 5]  # includes k = 1, k = 2 and an empty analysis
    parts, ids = [], []
    for analysis, k in enumerate(sizes):
        parts.append(rng.integers(0, 9, size=(k,)))
        ids += [analysis] * k
    n = sum(sizes)
    effect = rng.normal(0.2, 0.5, n)
    se = rng.uniform(0.1, 0.6, n)
    subgroup = rng.integers(0, 3, n)
    ids = np.array(ids)
    shuffle = rng.permutation(n)  # rows need not be grouped by analysis
    data = GenericEstimates(effect[shuffle], se[shuffle])
    for options in (AnalysisOptions(measure="GENERIC"),
                    AnalysisOptions(measure="GENERIC", tau2_method="REML", hksj=True)):
        batch = analyse_batch(data, ids[shuffle], options=options, n_analyses=len(sizes),
                              subgroup=subgroup[shuffle])
        assert batch.n_analyses == len(sizes)
        for analysis, k in enumerate(sizes):
            rows = np.flatnonzero(ids[shuffle] == analysis)
            view = batch.analysis(analysis)
            assert view.overall.k == k
            if k == 0:
                assert math.isnan(view.overall.fixed.estimate) and view.leave_one_out == ()
                continue
            alone = analyse(GenericEstimates(data.effect[rows], data.se[rows]),
                            options=options, subgroup=subgroup[shuffle][rows])
            _assert_pooled_equal(view.overall, alone.overall, 1e-12)
            assert [s.effect for s in view.studies] == [s.effect for s in alone.studies]
            assert len(view.subgroups) == len(alone.subgroups)
            for mine, theirs in zip(view.subgroups, alone.subgroups):
                _assert_pooled_equal(mine.pooled, theirs.pooled, 1e-12)
            for mine, theirs in zip(view.leave_one_out, alone.leave_one_out):
                _assert_pooled_equal(mine.pooled, theirs.pooled, 1e-9)


def test_leave_one_out_of_a_very_large_analysis_is_exact():
    # k = 1500 studies: one dense leave-one-out block per chunk, two chunks.
    rng = np.random.default_rng(11)
    k = 1500
    effect, se = rng.normal(0.3, 0.4, 2 * k), rng.uniform(0.05, 0.5, 2 * k)
    data = GenericEstimates(effect, se)
    batch = analyse_batch(data, np.repeat([0, 1], k), options=AnalysisOptions(
        measure="GENERIC", hksj=True))
    for analysis in (0, 1):
        view = batch.analysis(analysis)
        assert view.overall.heterogeneity.tau2 > 0
        for row in (view.leave_one_out[0], view.leave_one_out[-1]):
            keep = (np.arange(2 * k) // k == analysis) & (np.arange(2 * k) != row.row)
            alone = analyse(GenericEstimates(effect[keep], se[keep]),
                            options=AnalysisOptions(measure="GENERIC", hksj=True))
            _assert_pooled_equal(row.pooled, alone.overall, 1e-9)
