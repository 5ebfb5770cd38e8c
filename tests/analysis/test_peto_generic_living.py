"""Peto and generic inverse-variance outcomes in the living analysis: results, reader pages, forest plot,
API, data CSV and the metafor script, on a review imported from a RevMan file whose stored numbers are
metafor's (the R calls sit beside them in tests/studies/revman/test_rm5_import.py)."""
import math
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "studies" / "revman"))
from rm5_files import rm5  # noqa: E402
from test_rm5_import import GENERIC_HR, PETO_CI_LEVELS, STUDIES  # noqa: E402

from analysis import services  # noqa: E402
from analysis.models import OutcomeResult, ReviewAnalysisState  # noqa: E402
from studies.models import Review  # noqa: E402
from studies.services.revman import rm5_import  # noqa: E402

pytestmark = pytest.mark.django_db
SVG = "{http://www.w3.org/2000/svg}"

# Analysis 1.1 Peto (CI_STUDY 99, CI_TOTAL 90), analysis 1.2 generic hazard ratios entered as logs.
FILE = rm5(studies=STUDIES, comparisons=[("Drug versus placebo", [PETO_CI_LEVELS, GENERIC_HR])])


@pytest.fixture
def imported(db) -> Review:
    review = rm5_import(content=FILE, file_name="peto-generic.rm5", slug="peto-generic").review
    Review.objects.filter(pk=review.pk).update(is_public=True)
    services.review_recompute(review.pk)
    return Review.objects.get(pk=review.pk)


def overall(review: Review, number: str) -> OutcomeResult:
    run = ReviewAnalysisState.objects.get(review=review).current_run
    return OutcomeResult.objects.select_related("outcome").get(
        run=run, subgroup_field=None, analysis_set="main", outcome__revman_number=number)


def test_living_results_of_peto_and_generic_outcomes_equal_metafor(imported):
    peto = overall(imported, "1.1")
    # R: exp(c(r$beta, r$ci.lb, r$ci.ub)) of rma.peto(..., level=90): 0.57711989904416794,
    #    0.36291857918535908, 0.91774683627491527; r$QE = 6.6765558712669595, r$I2 = 55.066653258894803
    assert math.exp(peto.estimate) == pytest.approx(0.57711989904416794, rel=1e-12)
    assert math.exp(peto.ci_low) == pytest.approx(0.36291857918535908, rel=1e-12)
    assert math.exp(peto.ci_high) == pytest.approx(0.91774683627491527, rel=1e-12)
    assert peto.i2 == pytest.approx(55.066653258894803, rel=1e-12)
    # I² above the review's threshold, yet the Peto method is fixed effect only.
    assert peto.chosen_model == "fixed"
    payload = peto.payload
    assert (payload["measure"], payload["method"], payload["level"], payload["study_level"]) == (
        "PETO_OR", "PETO", 0.90, 0.99)
    # R: exp(e$yi ± qnorm(0.995)*sqrt(e$vi)) for Adams 2001: 0.21647318460539952, 1.3318095718832839
    adams = next(s for s in payload["studies"] if s["study"] == "Adams 2001")
    assert math.exp(adams["ci_low"]) == pytest.approx(0.21647318460539952, rel=1e-12)
    assert math.exp(adams["ci_high"]) == pytest.approx(1.3318095718832839, rel=1e-12)

    generic = overall(imported, "1.2")
    # R: exp(c(r$b, r$ci.lb, r$ci.ub)) of rma(log(hr), sei=sei, method="FE"): 0.82087964132459124,
    #    0.72732201814279884, 0.92647186353829103; r$pval = 0.0013888341749975378
    assert math.exp(generic.estimate) == pytest.approx(0.82087964132459124, rel=1e-12)
    assert math.exp(generic.ci_low) == pytest.approx(0.72732201814279884, rel=1e-12)
    assert math.exp(generic.ci_high) == pytest.approx(0.92647186353829103, rel=1e-12)
    assert generic.p_value == pytest.approx(0.0013888341749975378, rel=1e-10)
    assert generic.k == 4
    payload = generic.payload
    assert (payload["measure"], payload["measure_name"]) == ("GENERIC_RATIO", "Hazard Ratio")
    assert payload["fixed"]["ratio"] == pytest.approx(0.82087964132459124, rel=1e-12)
    assert [a["se"] for a in payload["arms"]] == [0.12, 0.20, 0.09, 0.15]


def test_reader_pages_and_forest_plots_show_peto_and_generic_outcomes(client, imported):
    peto, generic = overall(imported, "1.1"), overall(imported, "1.2")
    html = client.get(f"/reviews/{imported.slug}/").content.decode()
    assert "Peto OR" in html and "Hazard Ratio" in html and "0.58 [0.36, 0.92]" in html

    page = client.get(f"/reviews/{imported.slug}/outcomes/{peto.outcome_id}/").content.decode()
    forest = ET.fromstring(client.get(f"/reviews/{imported.slug}/outcomes/{peto.outcome_id}/forest.svg").content)
    texts = [t.text for t in forest.iter(f"{SVG}text") if t.text]
    assert "Peto Odds Ratio" in texts and "Peto, Fixed, 99% CI" in texts  # the studies' level heads the column
    assert "Total (90% CI)" in texts and "0.58 [0.36, 0.92]" in texts
    assert "Peto Odds Ratio" in page

    page = client.get(f"/reviews/{imported.slug}/outcomes/{generic.outcome_id}/").content.decode()
    assert "Hazard Ratio" in page and "0.82 [0.73, 0.93]" in page
    forest = ET.fromstring(client.get(f"/reviews/{imported.slug}/outcomes/{generic.outcome_id}/forest.svg").content)
    texts = [t.text for t in forest.iter(f"{SVG}text") if t.text]
    assert "Hazard Ratio" in texts and "log[Hazard Ratio]" in texts and "SE" in texts
    assert "IV, Fixed, 95% CI" in texts and "0.82 [0.73, 0.93]" in texts
    studies = [g.get("data-study") for g in forest.iter(f"{SVG}g") if "study" in g.get("class", "").split()]
    assert studies == ["Adams 2001", "Baker 2005", "Chen 2012", "Diaz 2015"]

    api = client.get(f"/api/reviews/{imported.slug}/analysis/").json()
    assert "GENERIC_RATIO" in str(api) and "PETO_OR" in str(api)


def test_data_csv_and_metafor_script_reproduce_peto_and_generic_results(client, imported, tmp_path):
    csv = b"".join(client.get(f"/reviews/{imported.slug}/data.csv").streaming_content)
    lines = csv.decode().splitlines()
    assert lines[0].split(",")[11:13] == ["estimate", "se"]
    assert any(line.startswith("Baker 2005,2005,Time to relapse,") and ",0.2," in line for line in lines)
    # metafor is the independent oracle; missing, it is a failure (`./dev test` installs r-cran-metafor).
    assert shutil.which("Rscript"), "needs R's metafor: apt-get install r-cran-metafor"
    for number in ("1.1", "1.2"):
        result = overall(imported, number)
        script = client.get(f"/reviews/{imported.slug}/outcomes/{result.outcome_id}/analysis.R").content.decode()
        folder = tmp_path / number
        folder.mkdir()
        (folder / "analysis.R").write_text(
            script + "\ncat(sprintf('\\nRESULT %.12f %.12f %.12f %d\\n', res$b[1], res$ci.lb, res$ci.ub, res$k))\n")
        (folder / "data.csv").write_bytes(csv)
        run = subprocess.run(["Rscript", "analysis.R"], cwd=folder, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        estimate, low, high, k = next(x for x in run.stdout.splitlines() if x.startswith("RESULT")).split()[1:]
        assert (float(estimate), float(low), float(high)) == pytest.approx(
            (result.estimate, result.ci_low, result.ci_high), abs=1e-11)
        assert int(k) == result.k
