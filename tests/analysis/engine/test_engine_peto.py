"""The Peto odds ratio and the Peto method, against metafor's ``rma.peto`` (R 4.2.2, metafor
3.8-1; the R call above each golden number), and the study-level confidence level (RevMan's
CI_STUDY, apart from the totals' CI_TOTAL)."""

import math

import numpy as np
import pytest

from analysis.engine import (
    AnalysisOptions,
    DichotomousArms,
    analyse,
    analyse_batch,
    result_to_dict,
    study_effects,
)
from analysis.engine.effect_sizes import StudyStatus
from analysis.engine.report import text_summary
from analysis.engine.csv_input import read_study_csv

PETO = AnalysisOptions(measure="PETO_OR", method="PETO", model_rule="fixed")

# dat.bcg (metafor): tpos, tpos + tneg, cpos, cpos + cneg.
BCG_A = [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27]
BCG_N1 = list(np.add(BCG_A, [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886]))
BCG_C = [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29]
BCG_N2 = list(np.add(BCG_C, [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825]))
BCG = DichotomousArms(BCG_A, BCG_N1, BCG_C, BCG_N2)

# A sparse set: a zero cell (no correction in Peto's method), and one study with events in every
# participant of both arms (V = 0: not estimable).
SPARSE = DichotomousArms([15, 0, 5, 3, 20], [100, 50, 60, 40, 20], [25, 2, 10, 0, 20], [100, 50, 60, 45, 20])


def close(ours, theirs, rel=1e-12):
    assert ours == pytest.approx(theirs, rel=rel, abs=1e-14)


def test_bcg_peto_fixed_effect_equals_metafor():
    result = analyse(BCG, options=PETO)
    fixed, het = result.overall.fixed, result.overall.heterogeneity
    # R: r <- rma.peto(ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)
    #    c(r$beta, r$se, r$ci.lb, r$ci.ub, r$zval, r$pval, r$QE, r$QEp, r$I2)
    close(fixed.estimate, -0.47444631094063633)
    close(fixed.se, 0.040659080744648281)
    close(fixed.ci_low, -0.55413664484465297)
    close(fixed.ci_high, -0.39475597703661969)
    close(fixed.statistic, -11.668889267819587)
    close(fixed.p, 1.8380733863216688e-31, rel=1e-10)
    close(het.q, 167.73016751148941)
    close(het.p, 1.389754347184333e-29, rel=1e-10)
    close(het.i2, 92.845651931291371)
    assert het.df == 12
    # R: weights(r)[1:3]
    for study, weight in zip(result.studies, [0.58449411801866547, 1.3655919192328245, 0.56155674347503193]):
        close(study.weight_fixed, weight)
    assert result.chosen_model.value == "fixed"


def test_sparse_peto_no_correction_and_v_zero_not_estimable():
    result = analyse(SPARSE, options=PETO, subgroup=[0, 0, 1, 1, 1])
    fixed, het = result.overall.fixed, result.overall.heterogeneity
    # R: r <- rma.peto(ai=c(15,0,5,3,20), n1i=c(100,50,60,40,20), ci=c(25,2,10,0,20), n2i=c(100,50,60,45,20))
    close(fixed.estimate, -0.54970523675732275)
    close(fixed.se, 0.28201386754607211)
    close(fixed.ci_low, -1.1024422602884734)
    close(fixed.ci_high, 0.0030317867738277604)
    close(fixed.p, 0.051269933872997615, rel=1e-10)
    close(het.q, 6.6765558712669595)
    close(het.p, 0.082953674354790258, rel=1e-10)
    close(het.i2, 55.066653258894803)
    # R: weights(r): 63.9451831061656293 3.9364234878044262 26.3156762277441736 5.8027171782857749 0
    for study, weight in zip(result.studies, [63.9451831061656293, 3.9364234878044262, 26.3156762277441736,
                                              5.8027171782857749, 0.0]):
        close(study.weight_fixed, weight)
    # Study 2 (0/50 against 2/50): O − E = −1, V = 50·50·2·98/(100²·99) = 0.494949…; no 0.5 added.
    effects = study_effects(SPARSE, "PETO_OR")
    close(effects.effect[1], -1.0 / (50 * 50 * 2 * 98 / (100**2 * 99)))
    assert not effects.zero_cell_corrected.any()
    assert effects.status[4] == StudyStatus.ALL_EVENTS
    # Subgroup 1 (studies 1–2). R: r1 <- rma.peto(..., subset=1:2); c(r1$beta, r1$se, r1$QE)
    first = result.subgroups[0].pooled
    close(first.fixed.estimate, -0.70297530196073776)
    close(first.fixed.se, 0.34229015517071132)
    close(first.heterogeneity.q, 0.91193135150088001)
    # The test for subgroup differences is Q − ΣQ_subgroup (R: rma.peto(..., subset=3:5)$QE =
    # 5.14035510983035948), the Peto method's own decomposition of Q.
    close(result.subgroup_test_fixed.q, 6.6765558712669595 - 0.91193135150088001 - 5.14035510983035948,
          rel=1e-11)


def test_peto_is_fixed_effect_only_and_only_for_peto_odds_ratios():
    with pytest.raises(ValueError, match="fixed-effect method"):
        AnalysisOptions(measure="PETO_OR", method="PETO", model_rule="auto")
    with pytest.raises(ValueError, match="Peto method pools Peto odds ratios"):
        AnalysisOptions(measure="OR", method="PETO", model_rule="fixed")
    with pytest.raises(ValueError, match="Peto method pools Peto odds ratios"):
        AnalysisOptions(measure="PETO_OR", method="IV", model_rule="fixed")
    with pytest.raises(ValueError, match="Mantel–Haenszel pooling needs OR, RR or RD"):
        AnalysisOptions(measure="PETO_OR", method="MH", model_rule="fixed")


def test_peto_labels_in_the_report():
    table = read_study_csv("study,events1,total1,events2,total2\nA,15,100,25,100\nB,5,60,10,60\n", None)
    result = analyse(table.study_data(), options=PETO)
    summary = text_summary(result, table)
    assert "Peto Odds Ratio, Peto, Fixed, 95% CI" in summary
    payload = result_to_dict(result, table.studies, None)
    assert payload["measure"] == "PETO_OR" and payload["method"] == "PETO"
    close(payload["fixed"]["ratio"], math.exp(result.overall.fixed.estimate))


def test_study_level_apart_from_the_totals_level():
    options = AnalysisOptions(measure="PETO_OR", method="PETO", model_rule="fixed", level=0.90, study_level=0.99)
    result = analyse(BCG, options=options)
    # R: r9 <- rma.peto(..., data=dat.bcg, level=90); c(r9$ci.lb, r9$ci.ub)
    close(result.overall.fixed.ci_low, -0.54132454737198388)
    close(result.overall.fixed.ci_high, -0.40756807450928884)
    study = result.studies[0]
    z99 = 2.5758293035489004  # R: qnorm(0.995)
    close(study.ci_high - study.effect, z99 * study.se)
    payload = result_to_dict(result, [f"S{i}" for i in range(13)], None)
    assert payload["level"] == 0.90 and payload["study_level"] == 0.99
    with pytest.raises(ValueError, match="study_level"):
        AnalysisOptions(measure="MD", study_level=1.5)


def test_batch_of_peto_analyses_equals_one_at_a_time():
    data = DichotomousArms(BCG_A + SPARSE.events1.tolist(), BCG_N1 + SPARSE.total1.tolist(),
                           BCG_C + SPARSE.events2.tolist(), BCG_N2 + SPARSE.total2.tolist())
    batch = analyse_batch(data, [0] * 13 + [1] * 5, options=PETO)
    for index, alone in enumerate((analyse(BCG, options=PETO), analyse(SPARSE, options=PETO))):
        close(batch.analysis(index).overall.fixed.estimate, alone.overall.fixed.estimate, rel=1e-14)
        close(batch.analysis(index).overall.heterogeneity.q, alone.overall.heterogeneity.q, rel=1e-12)
