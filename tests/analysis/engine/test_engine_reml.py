"""REML finds the global maximum of the restricted likelihood, checked against R's metafor.

The bimodal set: two precise studies that agree beside eight imprecise ones that scatter.
Its restricted log-likelihood has a maximum at the boundary τ² = 0 (−16.7737) and a lower one
at τ² ≈ 0.93 (−16.9671); Fisher scoring from the DerSimonian–Laird start climbs to the lower one
(the engine reported τ² = 0.93 before issue 23). metafor 3.8-1 checks the boundary itself
("Fisher scoring algorithm may have gotten stuck at a local maximum. Setting tau^2 = 0") and a
profile over 2,000 τ² values in R confirms the maximum.
"""

import csv
import math
import shutil
import subprocess

import numpy as np
import pytest

from analysis.engine import AnalysisOptions, GenericEstimates, analyse, analyse_batch
from analysis.engine.heterogeneity import reml_loglik
from analysis.engine.study_sets import SegmentSets

BIMODAL_Y = [0.326, 0.285, 0.155, 0.057, -1.832, 2.427, -2.771, 2.342, 1.909, -0.186]
BIMODAL_V = [0.0438, 0.0279, 2.0796, 1.4355, 0.8752, 2.0666, 1.7124, 1.3641, 1.1463, 2.24]
# R 4.2.2, metafor 3.8-1, yi/vi as above:
# R: m <- rma(yi, vi, method="REML", control=list(threshold=1e-12, tol=1e-15, maxiter=1000))
#    c(m$tau2, logLik(m), coef(m), m$se, m$zval, m$pval)
BIMODAL_REML = {"tau2": 0.0, "loglik": -16.773730832470189, "estimate": 0.28908853850046495,
                "se": 0.12488962865622998, "statistic": 2.3147521664605741, "p": 0.020626499068819405}
# R: grid <- c(0, exp(seq(log(1e-6), log(50), length.out=2000)))
#    ll <- sapply(grid, function(t) logLik(rma(yi, vi, tau2=t, method="REML")))
#    grid[which.max(ll)] == 0; interior local maximum grid[i] = 0.932581 with ll = -16.967145
BIMODAL_LOCAL_MAXIMUM = {"tau2": 0.932581, "loglik": -16.967145}


def _reml(y, v, **options):
    return analyse(GenericEstimates(y, np.sqrt(v)),
                   options=AnalysisOptions(measure="GENERIC", tau2_method="REML", **options))


def test_reml_takes_the_boundary_maximum_over_a_lower_interior_one():
    result = _reml(BIMODAL_Y, BIMODAL_V)
    het, random = result.overall.heterogeneity, result.overall.random
    assert het.tau2 == 0.0 and het.tau2_converged
    for field in ("estimate", "se", "statistic", "p"):
        assert getattr(random, field) == pytest.approx(BIMODAL_REML[field], rel=1e-12), field
    assert random.estimate == result.overall.fixed.estimate


def test_restricted_loglik_is_metafors():
    y, v = np.array(BIMODAL_Y), np.array(BIMODAL_V)
    expansion = SegmentSets(np.zeros(10, dtype=np.intp), 1).expand(np.array([True]))
    assert reml_loglik(expansion, y, v, np.array([0.0]))[0] == pytest.approx(BIMODAL_REML["loglik"], rel=1e-13)
    at_local = reml_loglik(expansion, y, v, np.array([BIMODAL_LOCAL_MAXIMUM["tau2"]]))[0]
    assert at_local == pytest.approx(BIMODAL_LOCAL_MAXIMUM["loglik"], abs=1e-6)


def test_the_global_maximum_holds_in_batches_and_leave_one_out():
    # The bimodal set twice (plus a well-behaved set) in one batch, and its leave-one-out sets.
    rng = np.random.default_rng(3)
    y = BIMODAL_Y + list(rng.normal(0.2, 0.5, 8)) + BIMODAL_Y
    v = BIMODAL_V + list(rng.uniform(0.05, 0.3, 8)) + BIMODAL_V
    analysis = [0] * 10 + [1] * 8 + [2] * 10
    batch = analyse_batch(GenericEstimates(y, np.sqrt(v)), analysis,
                          options=AnalysisOptions(measure="GENERIC", tau2_method="REML"))
    tau2 = batch.overall.heterogeneity.tau2
    assert tau2[0] == tau2[2] == 0.0
    assert tau2[1] == _reml(y[10:18], v[10:18]).overall.heterogeneity.tau2
    loo = batch.leave_one_out
    for entry in np.flatnonzero(loo.analysis == 0):
        kept = [i for i in range(10) if i != loo.row[entry]]
        alone = _reml([BIMODAL_Y[i] for i in kept], [BIMODAL_V[i] for i in kept]).overall
        assert loo.pooled.heterogeneity.tau2[entry] == pytest.approx(alone.heterogeneity.tau2, rel=1e-9, abs=1e-12)
        assert loo.pooled.random.estimate[entry] == pytest.approx(alone.random.estimate, rel=1e-9)


# Fisher scoring oscillates with growing amplitude on this set (τ² swung between ~0.0003 and
# ~0.0008); metafor's default rma(yi, vi, method="REML") stops with "Fisher scoring algorithm did
# not converge", and its documented remedy, a step adjustment, converges:
OSCILLATING_Y = [-0.11205426622775541, -0.03344272342362591, 0.05733381352247915, -0.03212883310177945,
    0.08044431724831183, 0.09160803622842438, 0.12939397474291175, -0.12141574240957992,
    0.009289634949673806, -0.09798420900525365, 0.004451090909078118, 0.013587508835599841,
    -0.07699704273419951, -0.0004463908817329269, 0.02792609741431522, -0.04488535892119719,
    -0.050776853693778774, -0.10376195256768092, -0.0017162817136665163]
OSCILLATING_V = [0.007456210496463032, 0.0030171563522054393, 0.0007455926574918497,
    0.010696572536405076, 0.011449115123938123, 0.010207070274796299, 0.009378138941727645,
    0.013704511098275427, 0.008264791711780002, 0.010129088885326133, 0.0143384152990603,
    0.006900019446604642, 0.009196014906674252, 0.0012685742608825863, 0.011978964369117403,
    0.007564758863778444, 0.006003178390926033, 0.009314772605734933, 0.006619207465898206]
# R: m <- rma(yi, vi, method="REML", control=list(stepadj=0.5, threshold=1e-13, maxiter=100000))
#    c(m$tau2, logLik(m), coef(m), m$se)
OSCILLATING_REML = {"tau2": 5.6162146538632095e-04, "loglik": 2.1197831631791324e+01,
                    "estimate": 4.5824961761630514e-04, "se": 1.7521608793817742e-02}


def test_reml_converges_where_fisher_scoring_oscillates():
    result = _reml(OSCILLATING_Y, OSCILLATING_V)
    het, random = result.overall.heterogeneity, result.overall.random
    assert het.tau2_converged and het.tau2_iterations < 20
    assert het.tau2 == pytest.approx(OSCILLATING_REML["tau2"], rel=1e-10)
    assert random.estimate == pytest.approx(OSCILLATING_REML["estimate"], rel=1e-9)
    assert random.se == pytest.approx(OSCILLATING_REML["se"], rel=1e-10)
    expansion = SegmentSets(np.zeros(len(OSCILLATING_Y), dtype=np.intp), 1).expand(np.array([True]))
    ll = reml_loglik(expansion, np.array(OSCILLATING_Y), np.array(OSCILLATING_V), np.array([het.tau2]))[0]
    assert ll == pytest.approx(OSCILLATING_REML["loglik"], rel=1e-13)


R_SCRIPT = r"""
suppressMessages(library(metafor))
d <- read.csv("sets.csv")
out <- do.call(rbind, lapply(split(d, d$set), function(s) {
  m <- rma(s$y, s$v, method="REML", control=list(threshold=1e-12, tol=1e-15, maxiter=1000))
  data.frame(set=s$set[1], tau2=m$tau2, loglik=as.numeric(logLik(m)), estimate=as.numeric(coef(m)), se=m$se)
}))
write.csv(out, "metafor.csv", row.names=FALSE)
"""


def test_random_sets_match_metafor_to_1e9(tmp_path):
    # R is the independent oracle; missing, it is a failure (`./dev test` installs r-cran-metafor).
    assert shutil.which("Rscript"), "This test needs R's metafor: apt-get install r-cran-metafor"
    rng = np.random.default_rng(20231)
    sets = []
    for index in range(24):
        k = int(rng.integers(3, 30))
        v = rng.uniform(0.01, 1.0, k) * (10.0 ** rng.uniform(-2, 2))
        y = rng.normal(0.0, math.sqrt(rng.choice([0.0, 0.05, 0.5, 5.0])) + 1e-12, k) + rng.normal(0, np.sqrt(v))
        sets.append((index, y, v))
    with open(tmp_path / "sets.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["set", "y", "v"])
        for index, y, v in sets:
            writer.writerows([index, repr(float(a)), repr(float(b))] for a, b in zip(y, v, strict=True))
    (tmp_path / "check.R").write_text(R_SCRIPT)
    run = subprocess.run(["Rscript", "check.R"], check=False, cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    with open(tmp_path / "metafor.csv") as handle:
        expected = {int(row["set"]): row for row in csv.DictReader(handle)}
    y_all = np.concatenate([y for _, y, _ in sets])
    v_all = np.concatenate([v for _, _, v in sets])
    analysis = np.repeat(np.arange(len(sets)), [len(y) for _, y, _ in sets])
    batch = analyse_batch(GenericEstimates(y_all, np.sqrt(v_all)), analysis,
                          options=AnalysisOptions(measure="GENERIC", tau2_method="REML"))
    boundary = 0
    for index, y, v in sets:
        row = expected[index]
        tau2 = float(batch.overall.heterogeneity.tau2[index])
        assert tau2 == pytest.approx(float(row["tau2"]), rel=1e-9, abs=1e-12 * float(np.mean(v))), index
        assert batch.overall.random.estimate[index] == pytest.approx(float(row["estimate"]), rel=1e-9, abs=1e-12)
        assert batch.overall.random.se[index] == pytest.approx(float(row["se"]), rel=1e-9)
        expansion = SegmentSets(np.zeros(len(y), dtype=np.intp), 1).expand(np.array([True]))
        ll = reml_loglik(expansion, y, v, np.array([tau2]))[0]
        assert ll == pytest.approx(float(row["loglik"]), rel=1e-10)
        boundary += tau2 == 0.0
    assert 0 < boundary < len(sets)  # both interior and boundary maxima were exercised
