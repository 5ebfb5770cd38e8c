"""RevMan 5 import and the parity report: a real RevMan file (Fleiss 1993, shipped by R's meta) and
small files written here whose stored results are metafor's (R calls beside each golden value)."""
import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from rm5_files import analysis, rm5

from analysis.revman.parity import rm5_parity
from studies.models import (
    Arm,
    DataType,
    Direction,
    Outcome,
    OutcomeData,
    Record,
    Review,
    RevManImport,
    Study,
    StudyCharacteristic,
    StudyEstimate,
)
from studies.services.revman import Rm5FormatError, rm5_import
from tests.shared_data import SHARED_DATA

pytestmark = pytest.mark.django_db

FLEISS = SHARED_DATA / "rm5" / "Fleiss1993.rm5"
if not FLEISS.exists():  # the repository's copy of the shared test data
    FLEISS = Path(__file__).resolve().parents[3] / "shared" / "data" / "rm5" / "Fleiss1993.rm5"


def _import(content: bytes, slug: str = "rm5-test"):
    return rm5_import(content=content, file_name="test.rm5", slug=slug)


# --------------------------------------------------------------------------- Fleiss 1993 (real RevMan file)


def test_fleiss_imports_studies_analyses_and_settings():
    result = _import(FLEISS.read_bytes(), "fleiss")
    review = result.review
    assert (result.studies, result.analyses) == (12, 2)
    assert set(Study.objects.filter(review=review).values_list("label", flat=True)) >= {"ISIS-2", "MRC-1", "AMIS"}
    assert Study.objects.get(review=review, label="ISIS-2").year == 1988
    aspirin = Outcome.objects.get(review=review, revman_number="1.1")
    assert (aspirin.data_type, aspirin.effect_measure, aspirin.pooling_method, aspirin.model_rule) == (
        DataType.DICHOTOMOUS, "OR", "MH", "fixed")
    assert aspirin.domain.name == "Examples from Fleiss (1993)"
    assert aspirin.direction == Direction.LOWER_IS_BETTER  # "Favours experimental" on the left
    isis = OutcomeData.objects.filter(outcome=aspirin, study__label="ISIS-2").order_by("-arm__role")
    assert [(d.arm.label, d.events, d.total) for d in isis] == [("Experimental", 1570, 8587), ("Control", 1720, 8600)]
    mental = Outcome.objects.get(review=review, revman_number="1.2")
    assert (mental.data_type, mental.effect_measure, mental.pooling_method) == (DataType.CONTINUOUS, "SMD", "IV")
    wilson = OutcomeData.objects.get(outcome=mental, study__label="Wilson", arm__label="Control")
    assert (wilson.n, wilson.mean, wilson.sd) == (8, 7.38, 1.41)
    # Its one judged risk-of-bias item becomes each study's consensus (test_rm5_risk_of_bias.py).
    assert result.rob_studies == 12


def test_fleiss_every_stored_number_equals_ours():
    review = _import(FLEISS.read_bytes(), "fleiss").review
    report = rm5_parity(review)
    by_number = {a.number: a for a in report.analyses}
    aspirin = by_number["1.1"]
    # 9 overall statistics (estimate, CI, Z, P, Chi², df, P, I²) + weight, OR and its CI (at RevMan's
    # CI_STUDY level) of 7 studies.
    assert len(aspirin.checks) == 9 + 4 * 7
    assert {c.statistic for c in aspirin.checks if c.scope == "Study ISIS-2"} == {
        "WEIGHT", "EFFECT_SIZE", "CI_START", "CI_END"}
    assert aspirin.different == 0, [c for c in aspirin.checks if not c.equal]
    # RevMan's P for Chi² is its own approximation: equal at its precision only, and said so.
    p_chi2 = next(c for c in aspirin.checks if c.statistic == "P_CHI2")
    assert p_chi2.note == "RevMan's approximation of the tail" and abs(p_chi2.difference) > 1e-8
    estimate = next(c for c in aspirin.checks if c.statistic == "EFFECT_SIZE" and c.scope == "Overall")
    assert abs(estimate.difference) <= 1e-10 * estimate.revman
    # RevMan never calculated analysis 1.2 (its results are empty in the file): nothing to compare.
    assert by_number["1.2"].checks == () and "no results" in by_number["1.2"].not_checked
    assert report.counts() == {"checked": 37, "equal": 37, "different": 0}


def test_a_changed_number_shows_as_different():
    review = _import(FLEISS.read_bytes(), "fleiss").review
    row = OutcomeData.objects.get(outcome__review=review, outcome__revman_number="1.1", study__label="AMIS",
                                  arm__label="Experimental")
    # Behind the services' back (as a slip in the database would be): entered and analysed numbers move together.
    OutcomeData.objects.filter(pk=row.pk).update(events=row.events + 1, confirmed_events=row.events + 1)
    report = rm5_parity(review)
    assert report.different > 0
    assert any(c.scope == "Study AMIS" and not c.equal for c in report.analyses[0].checks)


def test_command_prints_one_json_line_with_parity_counts():
    out = __import__("io").StringIO()
    call_command("rm5_import", str(FLEISS), "--review", "fleiss-cli", stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["review"] == "fleiss-cli" and summary["studies"] == 12 and summary["analyses"] == 2
    assert summary["parity"] == {"checked": 37, "equal": 37, "different": 0}
    assert summary["risk_of_bias_studies"] == 12
    assert isinstance(summary["warnings"], list)


# --------------------------------------------------------------------------- hand-made files, metafor values

STUDIES = [("Adams 2001", "2001"), ("Baker 2005", "2005"), ("Multi 2010", "2010"), ("Chen 2012", "2012"),
           ("Diaz 2015", "2015")]


def _cont(study, n1, m1, s1, n2, m2, s2, weight):
    return {"STUDY_ID": study, "TOTAL_1": str(n1), "MEAN_1": m1, "SD_1": s1, "TOTAL_2": str(n2), "MEAN_2": m2,
            "SD_2": s2, "WEIGHT": weight}


def _results(est, ci, z, pz, q, pq, i2, tau2=0.0, df=None):
    return {"EFFECT_SIZE": est, "CI_START": ci[0], "CI_END": ci[1], "Z": abs(z), "P_Z": pz, "CHI2": q,
            "P_CHI2": pq, "I2": i2, "TAU2": tau2, **({"DF": str(df)} if df is not None else {})}


# R (metafor 4): es <- escalc("MD", m1i=m1, sd1i=s1, n1i=n1, m2i=m2, sd2i=s2, n2i=n2) with
#   n1 <- c(30,45,25, 24,60,20); m1 <- c(10.2,8.9,9.5, 8.1,7.8,9.9); s1 <- c(3.1,2.8,3.3, 3.0,2.5,4.0)
#   n2 <- c(31,44,26, 26,58,22); m2 <- c(12.0,11.1,10.1, 10.1,10.9,10.4); s2 <- c(3.4,3.0,3.2, 3.2,2.9,3.8)
#   g <- c(1,1,1,2,2,2)   # Multi 2010 in both subgroups: each dose arm against the shared control
# r <- rma(yi, vi, data=es, method="DL"); c(r$b, r$ci.lb, r$ci.ub, r$zval, r$pval, r$tau2, r$QE, r$QEp);
# I² = (QE − df)/QE; weights(r). Per subgroup: rma(yi, vi, data=es, subset=g==j, method="DL");
# test: rma(c(b1, b2), sei=c(se1, se2), method="FE")$QE, $QEp (the script: /tmp/h23/goldens.R, in the report).
MD_SUBGROUPS = analysis(
    "CONT", 1, "Pain score", {"EFFECT_MEASURE": "MD", "METHOD": "IV", "RANDOM": "YES", "UNITS": "points"},
    {**_results(-1.9669669470300504, (-2.7756896757503409, -1.1582442183097599), -4.7670038667764194,
                1.869857225932211e-06, 8.5953055730037793, 0.12633622987105425, 41.828711527091613,
                tau2=0.41136300636625694, df=5),
     "Q": 0.30603727113583068, "P_Q": 0.5801221158983233, "I2_Q": 0.0},
    [],
    subgroups=[
        ("Low dose", _results(-1.7135173208601908, (-2.5981765366626313, -0.82885810505775059), -3.7963005141197033,
                              0.00014687144477343919, 2.1296568226015791, 0.34478701124654781, 6.08815567022629,
                              tau2=0.03926782646850728, df=2),
         [_cont("Adams 2001", 30, 10.2, 3.1, 31, 12.0, 3.4, 15.413392851106019),
          _cont("Baker 2005", 45, 8.9, 2.8, 44, 11.1, 3.0, 21.547862157151108),
          _cont("Multi 2010", 25, 9.5, 3.3, 26, 10.1, 3.2, 13.721390518579884)]),
        ("High dose", _results(-2.1800228797615744, (-3.5761223848076438, -0.78392337471550499), -3.0605027180100479,
                               0.0022096575505529724, 4.4919186176688903, 0.10582597187382277, 55.475595837087695,
                               tau2=0.84301837245615363, df=2),
         [_cont("Multi 2010", 24, 8.1, 3.0, 26, 10.1, 3.2, 14.425940435203376),
          _cont("Chen 2012", 60, 7.8, 2.5, 58, 10.9, 2.9, 25.775718701825852),
          _cont("Diaz 2015", 20, 9.9, 4.0, 22, 10.4, 3.8, 9.1156953361337507)]),
    ])

# R: yi <- log(c(0.80, 0.65, 0.92, 0.71)); sei <- c(0.12, 0.20, 0.09, 0.15); r <- rma(yi, sei=sei, method="FE")
# exp(c(r$b, r$ci.lb, r$ci.ub)); r$zval; r$pval; r$QE; r$QEp; weights(r); rows: exp(yi ± qnorm(0.975)·sei)
_HR = [(0.80, 0.12, 26.47058823529412, 0.63233293386080702, 1.0121250463618596, "Adams 2001"),
       (0.65, 0.20, 9.5294117647058805, 0.43921083773907976, 0.96195258335358502, "Baker 2005"),
       (0.92, 0.09, 47.058823529411768, 0.77122249479620175, 1.0974783615766606, "Chen 2012"),
       (0.71, 0.15, 16.941176470588236, 0.52914916754961072, 0.95266142500873863, "Diaz 2015")]
GENERIC_HR = analysis(
    "IV", 2, "Time to relapse", {"EFFECT_MEASURE": "Hazard Ratio", "METHOD": "IV", "RANDOM": "NO", "LOG_DATA": "YES"},
    _results(0.82087964132459124, (0.72732201814279884, 0.92647186353829103), -3.1969615927538642,
             0.0013888341749975378, 3.9482834162029414, 0.26710301065326458, 24.017612624042684, df=3),
    [{"STUDY_ID": study, "EFFECT_SIZE": __import__("math").log(hr), "SE": se, "CI_START": lo, "CI_END": hi,
      "WEIGHT": weight} for hr, se, weight, lo, hi, study in _HR])

# R: deaths analysed, the file holds survivors with SWAP_EVENTS="YES":
# ai <- n1i - c(80,150,45,28); ci <- n2i - c(70,140,40,30); n1i <- c(100,200,50,40); n2i <- c(100,205,52,38)
# mh <- rma.mh(ai=ai, n1i=n1i, ci=ci, n2i=n2i, measure="RR"); es <- escalc("RR", ai=ai, n1i=n1i, ci=ci, n2i=n2i)
# RevMan 5 (Deeks & Higgins 2010) MH random effects: w <- 1/es$vi; Q <- sum(w*(es$yi - mh$b)^2)
# tau2 <- max(0, (Q - 3)/(sum(w) - sum(w^2)/sum(w))); wr <- 1/(es$vi + tau2); est <- sum(wr*es$yi)/sum(wr)
# se <- sqrt(1/sum(wr)); exp(est ± qnorm(0.975)*se); 2*pnorm(-abs(est/se)); pchisq(Q, 3, lower.tail=FALSE)
_RR = [("Adams 2001", 80, 100, 70, 100, 28.404634983012787, 0.66666666666666685),
       ("Baker 2005", 150, 200, 140, 205, 47.737762063984206, 0.78846153846153844),
       ("Chen 2012", 45, 50, 40, 52, 9.6766599966026572, 0.4333333333333334),
       ("Diaz 2015", 28, 40, 30, 38, 14.180942956400351, 1.4249999999999998)]
RR_SWAPPED = analysis(
    "DICH", 3, "Death", {"EFFECT_MEASURE": "RR", "METHOD": "MH", "RANDOM": "YES", "SWAP_EVENTS": "YES"},
    _results(0.77157145995701382, (0.56069979131249126, 1.0617491339289806), 1.5921055167905449,
             0.11136099773255585, 4.121430924057238, 0.2486468080827654, 27.20974692336403,
             tau2=0.030069310853802735, df=3),
    [{"STUDY_ID": s, "EVENTS_1": str(e1), "TOTAL_1": str(n1), "EVENTS_2": str(e2), "TOTAL_2": str(n2), "WEIGHT": w,
      "EFFECT_SIZE": rr} for s, e1, n1, e2, n2, w, rr in _RR])

# R (RevMan's SMD, Hedges' adjusted g, Deeks & Higgins 2010):
# N <- n1+n2; sp <- sqrt(((n1-1)*s1^2 + (n2-1)*s2^2)/(N-2)); g <- (m1-m2)/sp*(1-3/(4*N-9))
# sei <- sqrt(N/(n1*n2) + g^2/(2*(N-3.94))); r <- rma(g, sei=sei, method="FE"), with
# n1 <- c(30,45,60,20); m1 <- c(10.2,8.9,7.8,9.9); s1 <- c(3.1,2.8,2.5,4.0)
# n2 <- c(31,44,58,22); m2 <- c(12.0,11.1,10.9,10.4); s2 <- c(3.4,3.0,2.9,3.8)
SMD_FIXED = analysis(
    "CONT", 4, "Anxiety", {"EFFECT_MEASURE": "SMD", "METHOD": "IV", "RANDOM": "NO"},
    _results(-0.7548752976626899, (-0.9873381521385215, -0.52241244318685831), -6.3645798360944017,
             1.9582504499083865e-10, 8.5039410015772052, 0.036667787010852403, 64.722238789714112, df=3),
    [{**_cont("Adams 2001", 30, 10.2, 3.1, 31, 12.0, 3.4, 20.626099804912648), "EFFECT_SIZE": -0.54576847757666236},
     {**_cont("Baker 2005", 45, 8.9, 2.8, 44, 11.1, 3.0, 29.141224597166115), "EFFECT_SIZE": -0.7519130124086647},
     {**_cont("Chen 2012", 60, 7.8, 2.5, 58, 10.9, 2.9, 35.527579754127096), "EFFECT_SIZE": -1.1390397408235382},
     {**_cont("Diaz 2015", 20, 9.9, 4.0, 22, 10.4, 3.8, 14.705095843794144), "EFFECT_SIZE": -0.12590624975883757}])

HAND_MADE = rm5(studies=STUDIES, comparisons=[("Drug versus placebo", [MD_SUBGROUPS, GENERIC_HR, RR_SWAPPED,
                                                                      SMD_FIXED])],
                characteristics='<INCLUDED_CHAR STUDY_ID="STD-Adams_x0020_2001"><CHAR_METHODS><P>Parallel RCT'
                                '</P></CHAR_METHODS><CHAR_NOTES/></INCLUDED_CHAR>')


def test_hand_made_analyses_equal_metafor():
    result = _import(HAND_MADE)
    report = rm5_parity(result.review)
    assert [a.number for a in report.analyses] == ["1.1", "1.2", "1.3", "1.4"]
    for item in report.analyses:
        assert item.not_checked == "" and item.checks, item.number
        assert item.different == 0, (item.number, [c for c in item.checks if not c.equal])
    subgroup = {a.number: a for a in report.analyses}["1.1"]
    scopes = {c.scope for c in subgroup.checks}
    assert {"Overall", "Test for subgroup differences", "Subgroup 1.1.1 Low dose", "Subgroup 1.1.2 High dose"} <= scopes
    assert sum(c.statistic == "WEIGHT" for c in subgroup.checks) == 6


def test_hand_made_structures_are_carried_over():
    review = _import(HAND_MADE).review
    md = Outcome.objects.get(review=review, revman_number="1.1")
    assert (md.model_rule, md.effect_measure) == ("random", "MD")
    assert list(md.subgroups.values_list("name", flat=True)) == ["Low dose", "High dose"]
    # Multi 2010 appears in both subgroups: a second arm pair keeps its second row.
    multi = Study.objects.get(review=review, label="Multi 2010")
    assert set(Arm.objects.filter(study=multi).values_list("label", flat=True)) == {
        "Experimental", "Control", "Experimental (2)", "Control (2)"}
    high = OutcomeData.objects.get(outcome=md, study=multi, subgroup__name="High dose", arm__role="intervention")
    assert (high.n, high.mean, high.sd, high.arm.label) == (24, 8.1, 3.0, "Experimental (2)")
    hr = Outcome.objects.get(review=review, revman_number="1.2")
    assert (hr.data_type, hr.generic_measure, hr.log_scale, hr.pooling_method) == ("generic", "Hazard Ratio", True, "IV")
    estimate = StudyEstimate.objects.get(outcome=hr, study__label="Baker 2005")
    assert estimate.estimate == pytest.approx(-0.4307829160924542, abs=1e-15) and estimate.se == 0.20
    death = Outcome.objects.get(review=review, revman_number="1.3")
    assert death.swap_events and death.pooling_method == "MH" and death.model_rule == "random"
    # Stored as entered (survivors); the analysis swaps them.
    assert OutcomeData.objects.get(outcome=death, study__label="Adams 2001", arm__role="intervention").events == 80
    assert StudyCharacteristic.objects.get(study__review=review, field__name="Methods").value_text == "Parallel RCT"
    record = Record.objects.get(review=review, report__study__label="Chen 2012")
    assert (record.doi, record.authors, record.year) == ("10.1000/std-chen_x0020_2012", ["Chen A", "Other B"], 2012)


def test_a_rounded_stored_value_is_compared_at_its_precision():
    # Older RevMan versions stored rounded results: compared within half a unit of the last digit.
    rounded = SMD_FIXED.replace('EFFECT_SIZE="-0.7548752976626899"', 'EFFECT_SIZE="-0.75"').replace(
        'CI_START="-0.9873381521385215"', 'CI_START="-0.99"').replace(
        'CI_END="-0.5224124431868583"', 'CI_END="-0.52"').replace('Z="6.364579836094402"', 'Z="6.36"')
    review = _import(rm5(studies=STUDIES, comparisons=[("C", [rounded])])).review
    checks = rm5_parity(review).analyses[0].checks
    estimate = next(c for c in checks if c.statistic == "EFFECT_SIZE" and c.scope == "Overall")
    assert estimate.equal and estimate.note == "RevMan stored a rounded value"


# --------------------------------------------------------------------------- bad files: clear error, nothing written

ONE_ROW = analysis("DICH", 1, "Death", {"EFFECT_MEASURE": "OR", "METHOD": "MH"}, {},
                   [{"STUDY_ID": "Adams 2001", "EVENTS_1": "5", "TOTAL_1": "10", "EVENTS_2": "4", "TOTAL_2": "10"}])


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"this is not xml", "not well-formed XML"),
    (b"<?xml version='1.0'?><REVIEW/>", "root element is <REVIEW>"),
    ((b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
     b"<COCHRANE_REVIEW>&lol2;</COCHRANE_REVIEW>"), "DTD or entities"),
    (rm5(studies=STUDIES, comparisons=[("C", [ONE_ROW.replace('EVENTS_1="5"', 'EVENTS_1="15"')])]),
     "EVENTS_1 exceeds TOTAL_1"),
    (rm5(studies=STUDIES, comparisons=[("C", [ONE_ROW.replace('TOTAL_2="10"', 'TOTAL_2="ten"')])]),
     "TOTAL_2='ten' is not a number"),
    (rm5(studies=STUDIES, comparisons=[("C", [ONE_ROW, ONE_ROW])]), "Analysis number 1.1 appears twice"),
    (rm5(studies=STUDIES, comparisons=[("C", [ONE_ROW])]).replace(b'COMPARISON ID="CMP-001" NO="1"',
                                                                 'COMPARISON ID="CMP-001" NO="²"'.encode()),
     "NO='²' is not a number"),
    (rm5(studies=STUDIES, comparisons=[("C", [ONE_ROW.replace('"OR"', '"XX"')])]), "EFFECT_MEASURE='XX'"),
    (rm5(studies=[*STUDIES, STUDIES[0]], comparisons=[]), "appears twice"),
])
def test_bad_file_is_refused_with_a_clear_error_and_nothing_written(content, message):
    before = (Review.objects.count(), Study.objects.count(), Record.objects.count())
    with pytest.raises(Rm5FormatError, match=message):
        _import(content)
    assert (Review.objects.count(), Study.objects.count(), Record.objects.count()) == before


def test_existing_slug_is_refused_and_nothing_written():
    _import(FLEISS.read_bytes(), "taken")
    before = (Review.objects.count(), Study.objects.count(), RevManImport.objects.count())
    with pytest.raises(ValidationError, match="already exists"):
        _import(HAND_MADE, "taken")
    assert (Review.objects.count(), Study.objects.count(), RevManImport.objects.count()) == before


def test_a_row_that_cannot_be_stored_is_left_out_with_a_warning_naming_it():
    # RevMan shows a row with an SD of 0 as not estimable; the database refuses it (SD > 0): the row
    # is left out with a warning naming it, and the rest imports.
    zero_sd = SMD_FIXED.replace('SD_1="3.1"', 'SD_1="0.0"')
    result = _import(rm5(studies=STUDIES, comparisons=[("C", [zero_sd])]))
    assert any("Adams 2001" in w and "SD is 0" in w for w in result.warnings)


def test_command_refuses_a_bad_file_with_exit_code_2(tmp_path):
    path = tmp_path / "bad.rm5"
    path.write_bytes(b"<NOT_REVMAN/>")
    with pytest.raises(CommandError, match="not a RevMan 5 review") as error:
        call_command("rm5_import", str(path), "--review", "bad-file")
    assert error.value.returncode == 2
    assert not Review.objects.filter(slug="bad-file").exists()


def test_the_living_analysis_uses_each_imported_outcome_s_own_settings():
    # The living analysis (the reader pages' numbers) runs each outcome with its RevMan settings:
    # random effects for 1.1, MH random effects on the swapped events for 1.3, fixed SMD for 1.4;
    # Multi 2010's two dose rows stay two comparisons (its arms are not combined across subgroups).
    from analysis.services import analysis_inputs_load, review_results_compute

    review = _import(HAND_MADE).review
    results = {r.outcome_id: r.payload for r in review_results_compute(analysis_inputs_load(review.pk))
               if r.subgroup_field_id is None and r.analysis_set == "main"}
    by_number = {o.revman_number: o.pk for o in review.outcomes.all()}
    md = results[by_number["1.1"]]
    assert (md["chosen_model"], md["method"], len(md["studies"])) == ("random", "IV", 6)
    assert md["random"]["estimate"] == pytest.approx(-1.9669669470300504, rel=1e-10)  # R: rma(..., method="DL")$b
    death = results[by_number["1.3"]]
    assert (death["chosen_model"], death["method"]) == ("random", "MH")
    assert death["random"]["ratio"] == pytest.approx(0.77157145995701382, rel=1e-10)  # R: exp(est), above
    smd = results[by_number["1.4"]]
    assert smd["chosen_model"] == "fixed"
    assert smd["fixed"]["estimate"] == pytest.approx(-0.7548752976626899, rel=1e-10)  # R: rma(g, sei, "FE")$b


def test_subtotals_only_compares_subgroups_and_weights_within_each_subgroup():
    # TOTALS="SUB": RevMan computes no total (its overall results are empty) and shows each study's
    # weight as a percent of its own subgroup, pooled alone.
    # R: for (j in 1:2) weights(rma(yi, vi, data=es, subset=g==j, method="DL"))  (es, g as for MD_SUBGROUPS)
    subtotals = analysis(
        "CONT", 1, "Pain score", {"EFFECT_MEASURE": "MD", "METHOD": "IV", "RANDOM": "YES", "TOTALS": "SUB"}, {}, [],
        subgroups=[
            ("Low dose", _results(-1.7135173208601908, (-2.5981765366626313, -0.82885810505775059),
                                  -3.7963005141197033, 0.00014687144477343919, 2.1296568226015791,
                                  0.34478701124654781, 6.08815567022629, tau2=0.03926782646850728, df=2),
             [_cont("Adams 2001", 30, 10.2, 3.1, 31, 12.0, 3.4, 27.812856872021278),
              _cont("Baker 2005", 45, 8.9, 2.8, 44, 11.1, 3.0, 48.735189899746004),
              _cont("Multi 2010", 25, 9.5, 3.3, 26, 10.1, 3.2, 23.451953228232725)]),
            ("High dose", _results(-2.1800228797615744, (-3.5761223848076438, -0.78392337471550499),
                                   -3.0605027180100479, 0.0022096575505529724, 4.4919186176688903,
                                   0.10582597187382277, 55.475595837087695, tau2=0.84301837245615363, df=2),
             [_cont("Multi 2010", 24, 8.1, 3.0, 26, 10.1, 3.2, 31.478064918907172),
              _cont("Chen 2012", 60, 7.8, 2.5, 58, 10.9, 2.9, 46.455842537614068),
              _cont("Diaz 2015", 20, 9.9, 4.0, 22, 10.4, 3.8, 22.066092543478764)]),
        ])
    review = _import(rm5(studies=STUDIES, comparisons=[("C", [subtotals])])).review
    assert Outcome.objects.get(review=review).totals == "SUB"
    checks = rm5_parity(review).analyses[0].checks
    assert not any(c.scope == "Overall" for c in checks)
    assert sum(c.statistic == "WEIGHT" for c in checks) == 6
    assert sum(c.scope.startswith("Subgroup") for c in checks) == 2 * 10  # 9 results and τ² each
    assert all(c.equal for c in checks), [c for c in checks if not c.equal]


def test_rows_without_data_are_left_out_with_a_warning():
    empty = ONE_ROW.replace('EVENTS_2="4"', 'EVENTS_2=""')
    result = _import(rm5(studies=STUDIES, comparisons=[("C", [empty])]))
    assert any("Adams 2001" in w and "empty" in w for w in result.warnings)
    assert not OutcomeData.objects.filter(outcome__review=result.review).exists()


def test_other_data_analyses_are_named_in_a_warning_and_duplicate_subgroup_names_kept_apart():
    other = '<OTHER_OUTCOME NO="2" ID="CMP-001.02"><NAME>Adverse events (narrative)</NAME></OTHER_OUTCOME>'
    twins = analysis("DICH", 1, "Death", {"EFFECT_MEASURE": "OR", "METHOD": "MH"}, {}, [], subgroups=[
        ("Adults", {}, [{"STUDY_ID": "Adams 2001", "EVENTS_1": "5", "TOTAL_1": "10", "EVENTS_2": "4", "TOTAL_2": "10"}]),
        ("Adults", {}, [{"STUDY_ID": "Baker 2005", "EVENTS_1": "3", "TOTAL_1": "12", "EVENTS_2": "6", "TOTAL_2": "11"}]),
    ])
    result = _import(rm5(studies=STUDIES, comparisons=[("C", [twins, other])]))
    assert any(w.startswith("Analysis 1.2 (Adverse events (narrative), OTHER_OUTCOME): not imported") for w in
               result.warnings)
    outcome = Outcome.objects.get(review=result.review)
    assert list(outcome.subgroups.values_list("name", flat=True)) == ["Adults", "Adults (1.1.2)"]


def test_a_row_of_a_study_not_included_is_left_out_with_a_warning_and_a_doctype_is_allowed():
    content = rm5(studies=STUDIES[1:], comparisons=[("C", [ONE_ROW])]).replace(
        b"<COCHRANE_REVIEW", b"<!DOCTYPE COCHRANE_REVIEW>\n<COCHRANE_REVIEW", 1)
    result = _import(content)
    assert any("STD-Adams_x0020_2001" in w and "not among the included studies" in w for w in result.warnings)
    assert not Study.objects.filter(review=result.review, label="Adams 2001").exists()


def test_generic_results_stored_on_the_log_scale_are_read_on_that_scale():
    import math

    # The same metafor results as GENERIC_HR, stored as logs (estimate = midpoint of its CI).
    on_log_scale = analysis(
        "IV", 2, "Time to relapse", {"EFFECT_MEASURE": "Hazard Ratio", "METHOD": "IV", "RANDOM": "NO",
                                     "LOG_DATA": "YES"},
        _results(math.log(0.82087964132459124), (math.log(0.72732201814279884), math.log(0.92647186353829103)),
                 -3.1969615927538642, 0.0013888341749975378, 3.9482834162029414, 0.26710301065326458,
                 24.017612624042684, df=3),
        [{"STUDY_ID": study, "EFFECT_SIZE": math.log(hr), "SE": se, "WEIGHT": weight}
         for hr, se, weight, _, _, study in _HR])
    review = _import(rm5(studies=STUDIES, comparisons=[("C", [on_log_scale])])).review
    checks = rm5_parity(review).analyses[0].checks
    assert len(checks) == 9 + 4 and all(c.equal for c in checks), [c for c in checks if not c.equal]


def test_imported_values_meet_the_plausibility_rules_and_the_import_says_which_are_held():
    # Fleiss 1993's continuous analysis 1.2 has Gruen's control SD at 6.3 times the others' median and
    # Wilson's experimental SD that looks like an SE: held for a second look, named in the warnings,
    # and left out of the living analysis (the parity report still compares the file's numbers).
    result = _import(FLEISS.read_bytes(), "fleiss-held")
    held = OutcomeData.objects.filter(outcome__review=result.review, check_state="awaiting_check")
    assert sorted((d.study.label, d.arm.label) for d in held) == [("Gruen", "Control"), ("Wilson", "Experimental")]
    assert any(w.startswith("2 imported values held awaiting check") for w in result.warnings)
    assert rm5_parity(result.review).different == 0


# --------------------------------------------------------------------------- the Peto method, CI levels

# R (metafor 3.8-1): ai <- c(15,0,5,3); n1i <- c(100,50,60,40); ci <- c(25,2,10,0); n2i <- c(100,50,60,45)
# r <- rma.peto(ai=ai, n1i=n1i, ci=ci, n2i=n2i, level=90)
# exp(c(r$beta, r$ci.lb, r$ci.ub)); r$zval; r$pval; r$QE; r$QEp; r$I2; weights(r)
# rows: e <- escalc("PETO", ai=ai, n1i=n1i, ci=ci, n2i=n2i, add=0); exp(e$yi); exp(e$yi ± qnorm(0.995)*sqrt(e$vi))
_PETO = [("Adams 2001", 15, 100, 25, 100, 63.945183106165629, 0.53693673678891463, 0.21647318460539952,
          1.3318095718832839),
         ("Baker 2005", 0, 50, 2, 50, 3.9364234878044262, 0.13260133104084862, 0.003407694547651201,
          5.1598266065026621),
         ("Chen 2012", 5, 60, 10, 60, 26.315676227744174, 0.4697495702414265, 0.11399381788147125,
          1.9357598757807031),
         ("Diaz 2015", 3, 40, 0, 45, 5.8027171782857749, 8.8183014163568476, 0.43224721762673812,
          179.90269618547771)]
PETO_CI_LEVELS = analysis(
    "DICH", 1, "Stroke", {"EFFECT_MEASURE": "PETO_OR", "METHOD": "PETO", "RANDOM": "NO", "CI_STUDY": "99",
                          "CI_TOTAL": "90"},
    _results(0.57711989904416794, (0.36291857918535908, 0.91774683627491527), -1.9492134962743219,
             0.051269933872997615, 6.6765558712669595, 0.082953674354790258, 55.066653258894803, df=3),
    [{"STUDY_ID": s, "EVENTS_1": str(e1), "TOTAL_1": str(n1), "EVENTS_2": str(e2), "TOTAL_2": str(n2), "WEIGHT": w,
      "EFFECT_SIZE": effect, "CI_START": low, "CI_END": high} for s, e1, n1, e2, n2, w, effect, low, high in _PETO])
PETO_FILE = rm5(studies=STUDIES, comparisons=[("Drug versus placebo", [PETO_CI_LEVELS])])


def test_peto_analysis_with_its_own_study_and_total_ci_levels_equals_metafor():
    result = _import(PETO_FILE, "peto")
    assert not [w for w in result.warnings if "Peto" in w or "CI" in w]
    stroke = Outcome.objects.get(review=result.review, revman_number="1.1")
    assert (stroke.effect_measure, stroke.pooling_method, stroke.model_rule) == ("PETO_OR", "PETO", "fixed")
    assert (stroke.confidence_level, stroke.study_confidence_level) == (0.90, 0.99)
    report = rm5_parity(result.review)
    (peto,) = report.analyses
    assert peto.not_checked == "" and peto.different == 0, [c for c in peto.checks if not c.equal]
    # 9 overall statistics (no τ² in a fixed-effect analysis) + weight, Peto OR and its 99 % CI of 4 studies.
    assert len(peto.checks) == 9 + 4 * 4


def test_peto_and_ci_levels_survive_export_and_reimport():
    from analysis.revman.export import rm5_export

    first = _import(PETO_FILE, "peto-1").review
    exported = rm5_export(first)
    assert b'METHOD="PETO"' in exported and b'EFFECT_MEASURE="PETO_OR"' in exported
    assert b'CI_STUDY="99"' in exported and b'CI_TOTAL="90"' in exported
    second = _import(exported, "peto-2").review
    stroke = Outcome.objects.get(review=second, revman_number="1.1")
    assert (stroke.effect_measure, stroke.pooling_method, stroke.confidence_level, stroke.study_confidence_level) == (
        "PETO_OR", "PETO", 0.90, 0.99)
    report = rm5_parity(second)
    assert report.checked == 9 + 4 * 4 and report.different == 0


def test_peto_outcome_refuses_another_method_or_random_effects():
    review = _import(PETO_FILE, "peto-3").review
    stroke = Outcome.objects.get(review=review, revman_number="1.1")
    for changes in ({"pooling_method": "MH"}, {"model_rule": "random"}, {"effect_measure": "OR", "pooling_method": "PETO"}):
        for name, value in changes.items():
            setattr(stroke, name, value)
        with pytest.raises(ValidationError, match="Peto"):
            stroke.full_clean()
        stroke.refresh_from_db()
