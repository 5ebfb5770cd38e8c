"""The metaanalyse command's core: CSV in, JSON or RevMan-style text out."""

import json
import math
from pathlib import Path

import pytest

from analysis.engine.cli import InputError, metaanalyse_csv, run_csv_analysis

DATA = Path(__file__).parent / "data"
NORMAND = (DATA / "normand1999.csv").read_text()
BCG = (DATA / "bcg.csv").read_text()
SPARSE = (DATA / "sparse.csv").read_text()
GENERIC = (DATA / "generic.csv").read_text()

# R 4.2.2 / metafor 3.8-1 (see data/metafor_goldens.R):
# R: rma(yi, vi, data=bcg_rr, method='DL')
BCG_RR_DL = {"estimate": -0.71411722207322692, "ci_low": -1.0644452800840507, "tau2": 0.30876026286237618}
# R: rma.mh(ai=tpos, bi=tneg, ci=cpos, di=cneg, data=bcg, measure='RR')
BCG_RR_MH = {"estimate": -0.45370960468375388, "se": 0.039337366871294382}


def _json(text, **settings):
    return json.loads(metaanalyse_csv(text, **settings))


def test_json_has_the_documented_keys_on_the_analysis_scale():
    out = _json(BCG, measure="RR", method="MH", model="random")
    assert set(out) >= {"studies", "fixed", "random", "heterogeneity", "chosen_model", "subgroups",
                        "subgroup_test", "leave_one_out", "egger"}
    study = out["studies"][0]
    assert set(study) >= {"study", "effect", "se", "ci_low", "ci_high", "weight_fixed",
                          "weight_random", "subgroup", "ratio", "ratio_ci_low", "ratio_ci_high"}
    assert study["study"] == "Aronson" and study["subgroup"] == "random"
    assert set(out["fixed"]) >= {"estimate", "se", "ci_low", "ci_high", "z", "p", "k"}
    assert set(out["random"]) >= {"tau2", "prediction_low", "prediction_high"}
    assert set(out["heterogeneity"]) >= {"q", "df", "p", "i2", "tau2"}
    assert out["fixed"]["estimate"] == pytest.approx(BCG_RR_MH["estimate"], rel=1e-10)
    assert out["fixed"]["ratio"] == pytest.approx(math.exp(BCG_RR_MH["estimate"]), rel=1e-10)
    assert out["random"]["estimate"] == pytest.approx(BCG_RR_DL["estimate"], rel=0.01)
    assert out["chosen_model"] == "random"
    assert sum(s["weight_fixed"] for s in out["studies"]) == pytest.approx(100.0)
    assert [g["name"] for g in out["subgroups"]] == ["random", "non-random"]
    assert set(out["subgroup_test"]) == {"fixed", "random"}
    assert set(out["subgroup_test"]["fixed"]) == {"q", "df", "p", "i2", "subgroups", "applicable"}
    loo = out["leave_one_out"][0]
    assert set(loo) >= {"omitted", "estimate", "ci_low", "ci_high", "i2", "tau2"}
    assert set(out["egger"]) >= {"intercept", "se", "t", "df", "p"}
    assert [row["added"] for row in out["cumulative"]][:2] == ["Aronson", "Ferguson & Simes"]


def test_inverse_variance_json_matches_metafor():
    out = _json(BCG, measure="RR", method="IV")
    assert out["random"]["estimate"] == pytest.approx(BCG_RR_DL["estimate"], rel=1e-10)
    assert out["random"]["ci_low"] == pytest.approx(BCG_RR_DL["ci_low"], rel=1e-10)
    assert out["heterogeneity"]["tau2"] == pytest.approx(BCG_RR_DL["tau2"], rel=1e-10)


def test_defaults_follow_the_columns():
    assert _json(NORMAND)["measure"] == "MD"
    bcg = _json(BCG)
    assert (bcg["measure"], bcg["method"]) == ("RR", "MH")
    generic = _json(GENERIC)
    assert generic["measure"] == "GENERIC" and generic["egger"]["df"] == 1
    assert generic["chosen_model"] == "fixed"


def test_not_estimable_studies_are_listed_with_null_numbers():
    out = _json(SPARSE, measure="OR")
    by_name = {s["study"]: s for s in out["studies"]}
    assert by_name["No events"]["effect"] is None and not by_name["No events"]["estimable"]
    assert by_name["All events"]["status"] == "all_events"
    assert by_name["Zero control"]["zero_cell_corrected"]
    assert out["heterogeneity"]["df"] == 3
    assert any("not estimable" in w for w in out["warnings"])


def test_text_summary_reads_like_revman():
    text = metaanalyse_csv(NORMAND, output_format="text", measure="SMD")
    assert text.startswith("Std. Mean Difference, IV, Random, 95% CI")
    assert "Edinburgh" in text and "Subtotal (95% CI)" in text and "Total (95% CI)" in text
    assert "Heterogeneity: Tau² = 0.53; Chi² = 122.35, df = 8 (P < 0.00001); I² = 93%" in text
    assert "Test for overall effect: Z = 2.05 (P = 0.04)" in text
    assert "Test for subgroup differences: Chi² = 4.43, df = 1 (P = 0.04), I² = 77.4%" in text
    assert "-0.36 [-0.58, -0.13]" in text  # Edinburgh's SMD, 2 decimals
    fixed = metaanalyse_csv(BCG, output_format="text", measure="OR", model="fixed")
    assert "Odds Ratio, M-H, Fixed, 95% CI" in fixed
    assert "Heterogeneity: Chi² = " in fixed and "Tau²" not in fixed.split("Total (95% CI)")[1]


@pytest.mark.parametrize(
    "csv_text, message",
    [
        ("study,n1,mean1,sd1,n2,mean2\nA,10,1,1,10,2\n", "missing column(s) 'sd2'"),
        ("study,n1,mean1,sd1,n2,mean2,sd2\nA,10,1,1,10,2,1\nB,10,x,1,10,2,1\n",
         "line 3, column 'mean1': expected a number"),
        ("study,n1,mean1,sd1,n2,mean2,sd2\nA,10,1,0,10,2,1\n", "line 2, column 'sd1': SD must"),
        ("study,n1,mean1,sd1,n2,mean2,sd2\nA,1,1,1,10,2,1\n", "line 2, column 'n1': must be at least 2"),
        ("study,events1,total1,events2,total2\nA,3,10,2,10\nB,12,10,2,10\n",
         "line 3, column 'events1': events (12) exceed total1 (10)"),
        ("study,events1,total1,events2,total2\nA,0,10,0,10\n", "no estimable study"),
        ("study,effect,se\nA,0.1,0\n", "line 2, column 'se'"),
        ("study,effect\nA,0.1\n", "missing column(s) 'se'"),
        ("", "empty"),
    ],
)
def test_bad_input_names_the_line_and_column(csv_text, message):
    with pytest.raises(InputError) as error:
        run_csv_analysis(csv_text)
    assert message in str(error.value)


def test_measure_must_match_the_columns():
    with pytest.raises(InputError, match="needed for OR"):
        run_csv_analysis(NORMAND, measure="OR")
    with pytest.raises(InputError, match="Mantel"):
        run_csv_analysis(NORMAND, method="MH")
