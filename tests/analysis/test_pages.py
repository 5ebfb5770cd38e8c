"""The public reader pages: what they show, to whom, in how many queries, and that the downloads
reproduce the numbers."""
import csv
import io
import shutil
import subprocess
import xml.etree.ElementTree as ET

from django.db import connection
from django.test.utils import CaptureQueriesContext
import pytest

from analysis import services
from analysis.engine.formatting import format_effect_ci
from analysis.engine.options import Measure
from analysis.models import OutcomeResult, ReviewAnalysisState
from studies.models import Arm, ArmRole, Outcome, OutcomeData, Review, Study
from studies.services import entities_create, entity_save
from studies.services.entities import review_data_version_bump

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def computed(demo_review) -> Review:
    services.review_recompute(demo_review.pk)
    return Review.objects.get(pk=demo_review.pk)


def overall(review: Review, name: str) -> OutcomeResult:
    state = ReviewAnalysisState.objects.get(review=review)
    return OutcomeResult.objects.get(run=state.current_run, outcome__name=name, subgroup_field=None,
                                     analysis_set="main")


def test_review_page_summarises_every_outcome(client, computed):
    response = client.get(f"/reviews/{computed.slug}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Synthetic demo data." in html  # the banner on a synthetic review
    assert computed.question in html and computed.registration_id in html
    assert f"from data version {computed.data_version}" in html
    for outcome in Outcome.objects.filter(review=computed):
        result = overall(computed, outcome.name)
        assert outcome.name in html
        assert format_effect_ci(result.estimate, result.ci_low, result.ci_high, Measure("SMD")) in html
    result = overall(computed, "Self-stigma")
    reason = f"{'random effects' if result.chosen_model == 'random' else 'fixed effect'}: I² = {round(result.i2)}%"
    assert reason in html
    participants = sum(a["intervention"]["n"] + a["control"]["n"] for a in result.payload["arms"])
    assert f'<td class="num" data-label="Participants">{participants}</td>' in html
    assert "favours intervention" in html
    assert "Characteristics of included studies" in html and "Trial A 2013" in html
    assert 'data-updating hidden' in html  # not stale


def test_stale_results_show_the_updating_mark(client, computed):
    review_data_version_bump(review_ids=[computed.pk])
    html = client.get(f"/reviews/{computed.slug}/").content.decode()
    assert "data-updating>" in html.replace("data-updating hidden", "")


def test_public_pages_name_no_screener(client, computed):
    html = client.get(f"/reviews/{computed.slug}/").content.decode()
    html += client.get(f"/reviews/{computed.slug}/outcomes/{overall(computed, 'Self-stigma').outcome_id}/").content.decode()
    for name in ("demo-screener-1", "demo-screener-2", "demo-tutor"):
        assert name not in html


def test_unpublished_reviews_are_404_outside_the_team(client, computed, small):
    outcome_id = overall(computed, "Self-stigma").outcome_id
    Review.objects.filter(pk=computed.pk).update(is_public=False)
    for path in ("", f"outcomes/{outcome_id}/", "data.csv", f"outcomes/{outcome_id}/analysis.R",
                 f"outcomes/{outcome_id}/forest.svg"):
        assert client.get(f"/reviews/{computed.slug}/{path}").status_code == 404, path
    client.force_login(small.manager)  # a manager of another review only
    assert client.get(f"/reviews/{computed.slug}/").status_code == 404
    client.force_login(computed.memberships.first().user)
    assert client.get(f"/reviews/{computed.slug}/").status_code == 200


def test_outcome_page_shows_forest_plots_sensitivity_bias_and_history(client, computed):
    result = overall(computed, "Self-stigma")
    response = client.get(f"/reviews/{computed.slug}/outcomes/{result.outcome_id}/")
    assert response.status_code == 200
    html = response.content.decode()
    svgs = [ET.fromstring(chunk[:chunk.index("</svg>") + 6]) for chunk in ("<svg" + part for part in html.split("<svg")[1:])]
    forest = svgs[0]
    studies = [g.get("data-study") for g in forest.iter(f"{SVG}g") if "study" in g.get("class", "").split()]
    assert studies == [s["study"] for s in result.payload["studies"]]
    assert any(t.text and t.text.startswith("Heterogeneity: Tau²") for t in forest.iter(f"{SVG}text"))
    subgroup = svgs[1]
    assert any(t.text and t.text.startswith("Test for subgroup differences") for t in subgroup.iter(f"{SVG}text"))
    assert "Sensitivity: leaving one study out" in html
    assert html.count("<tr") >= len(result.payload["leave_one_out"])
    # Seven studies, fewer than the review's minimum of ten: no funnel plot, and the page says why.
    assert "No funnel plot or Egger's test: 7 studies pooled" in html
    assert any(s.get("class") == "figure history" for s in svgs)


def test_leave_one_out_highlights_a_study_whose_removal_changes_significance(client, computed):
    alpha = 0.05

    def flips(result: OutcomeResult) -> list[str]:
        significant = result.p_value < alpha
        return [r["omitted"] for r in result.payload["leave_one_out"] if (r["p"] < alpha) != significant]

    state = ReviewAnalysisState.objects.get(review=computed)
    results = list(OutcomeResult.objects.filter(run=state.current_run, subgroup_field=None, analysis_set="main"))
    flipping = [r for r in results if flips(r)]
    steady = [r for r in results if r.k > 2 and not flips(r)]
    assert flipping and steady, "the demo should have outcomes with and without a flip to show"
    for result in (flipping[0], steady[0]):
        html = client.get(f"/reviews/{computed.slug}/outcomes/{result.outcome_id}/").content.decode()
        assert html.count('<tr class="flip">') == len(flips(result))
        for study in flips(result):
            assert study in html


def test_funnel_plot_and_egger_from_the_minimum(client, computed):
    Review.objects.filter(pk=computed.pk).update(funnel_min_studies=5)
    result = overall(computed, "Self-stigma")
    html = client.get(f"/reviews/{computed.slug}/outcomes/{result.outcome_id}/").content.decode()
    assert 'class="figure funnel"' in html and "Egger&#x27;s test: intercept" in html
    download = client.get(f"/reviews/{computed.slug}/outcomes/{result.outcome_id}/funnel.svg")
    assert download["Content-Type"] == "image/svg+xml"


def test_the_funnel_section_says_why_there_is_no_funnel_plot(client, computed):
    result = overall(computed, "Self-stigma")
    assert result.k < computed.funnel_min_studies  # the demo's 7 studies, the review's threshold of 10
    html = client.get(f"/reviews/{computed.slug}/outcomes/{result.outcome_id}/").content.decode()
    assert 'class="figure funnel"' not in html
    assert (f"No funnel plot or Egger's test: {result.k} studies pooled, and this review shows them from "
            f"{computed.funnel_min_studies} studies") in html


def test_figures_open_full_size_in_the_browser_or_download(client, computed):
    result = overall(computed, "Self-stigma")
    html = client.get(f"/reviews/{computed.slug}/outcomes/{result.outcome_id}/").content.decode()
    url = f"/reviews/{computed.slug}/outcomes/{result.outcome_id}/forest.svg"
    assert f'href="{url}?view=1">Open full size</a>' in html
    shown = client.get(f"{url}?view=1")
    assert shown["Content-Type"] == "image/svg+xml" and "Content-Disposition" not in shown
    assert shown.content == client.get(url).content
    review_html = client.get(f"/reviews/{computed.slug}/").content.decode()
    assert f'href="/reviews/{computed.slug}/risk-of-bias/traffic-light.svg?view=1">Open full size</a>' in review_html
    assert "Content-Disposition" not in client.get(f"/reviews/{computed.slug}/risk-of-bias/traffic-light.svg?view=1")


def test_forest_plot_downloads_as_svg(client, computed):
    result = overall(computed, "Self-stigma")
    response = client.get(f"/reviews/{computed.slug}/outcomes/{result.outcome_id}/forest.svg")
    assert response["Content-Type"] == "image/svg+xml" and "attachment" in response["Content-Disposition"]
    root = ET.fromstring(response.content)
    assert root.get("role") == "img" and root.find(f"{SVG}title").text == "Forest plot: Self-stigma"


def test_data_csv_has_every_extracted_row(client, computed):
    response = client.get(f"/reviews/{computed.slug}/data.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == OutcomeData.objects.filter(study__review=computed, study__is_included=True).count()
    assert {"study", "outcome", "time_point", "arm", "n", "mean", "sd", "events", "total", "value_type", "provenance",
            "instrument"} <= set(rows[0])


def test_r_script_reproduces_the_pooled_result(client, computed, tmp_path):
    # R is the independent oracle; missing, it is a failure (`./dev test` installs r-cran-metafor).
    assert shutil.which("Rscript"), "The R script test needs R's metafor: apt-get install r-cran-metafor"
    result = overall(computed, "Self-stigma")
    script = client.get(f"/reviews/{computed.slug}/outcomes/{result.outcome_id}/analysis.R").content.decode()
    assert "escalc(" in script and "rma(" in script and "RevMan's SMD differs" in script
    (tmp_path / "analysis.R").write_text(script)
    (tmp_path / "data.csv").write_bytes(b"".join(client.get(f"/reviews/{computed.slug}/data.csv").streaming_content))
    check = ("\ncat(sprintf('\\nRESULT %.10f %.10f %.10f\\n', res$b[1], res$ci.lb, res$ci.ub))\n"
             "for (g in names(fits)) cat(sprintf('SUBGROUP %s %.10f %.10f\\n', g, fits[[g]]$b[1], fits[[g]]$se))\n"
             "cat(sprintf('DIFFERENCE %.10f %.10f\\n', difference$QE, difference$QEp))\n")
    (tmp_path / "analysis.R").write_text(script + check)
    run = subprocess.run(["Rscript", "analysis.R"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT"))
    estimate, low, high = map(float, line.split()[1:])
    assert estimate == pytest.approx(result.estimate, abs=1e-8)
    assert (low, high) == (pytest.approx(result.ci_low, abs=1e-8), pytest.approx(result.ci_high, abs=1e-8))
    # The subgroup split (the demo's intervention type, HOP vs non-HOP) and the test for differences.
    split = OutcomeResult.objects.get(run=result.run, outcome_id=result.outcome_id, subgroup_field__isnull=False)
    model = split.chosen_model
    stored = {g["name"]: g[model] for g in split.payload["subgroups"]}
    shown = {line.split()[1]: tuple(map(float, line.split()[2:])) for line in run.stdout.splitlines()
             if line.startswith("SUBGROUP")}
    assert set(shown) == set(stored) == {"HOP", "non-HOP"}
    for name, (estimate, se) in shown.items():
        assert (estimate, se) == (pytest.approx(stored[name]["estimate"], abs=1e-8), pytest.approx(stored[name]["se"], abs=1e-8))
    q, p = map(float, next(x for x in run.stdout.splitlines() if x.startswith("DIFFERENCE")).split()[1:])
    assert (q, p) == (pytest.approx(split.payload["subgroup_test"][model]["q"], abs=1e-8),
                      pytest.approx(split.payload["subgroup_test"][model]["p"], abs=1e-8))


def _queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def _grow(review: Review, studies: int) -> None:
    """Add ``studies`` more studies with data for every outcome of the review."""
    outcomes = list(Outcome.objects.filter(review=review))
    time_point = review.time_points.get(is_analysis_default=True)
    new = entities_create(instances=[Study(review=review, label=f"Extra {i:03d}", year=2021) for i in range(studies)])
    arms = entities_create(instances=[Arm(study=s, role=role, label=str(role), randomised=50) for s in new
                                      for role in (ArmRole.INTERVENTION, ArmRole.CONTROL)])
    entities_create(instances=[OutcomeData(study_id=a.study_id, outcome=o, time_point=time_point, arm=a, n=50,
                                           mean=-1.0 if a.role == ArmRole.INTERVENTION else 0.0, sd=5.0)
                               for o in outcomes for a in arms])
    services.review_recompute(review.pk)


@pytest.mark.parametrize("page", ["", "outcome"])
def test_query_counts_do_not_grow_with_the_number_of_studies(client, computed, page):
    outcome_id = overall(computed, "Self-stigma").outcome_id
    path = f"/reviews/{computed.slug}/" + (f"outcomes/{outcome_id}/" if page else "")
    before = _queries(client, path)
    _grow(computed, 30)
    after = _queries(client, path)
    assert before == after
    # The stamp, then what rendering reads (+3 on the review page for the risk-of-bias figures:
    # consensus judgments, study and outcome labels).
    assert after <= (13 if not page else 7)
    assert _queries(client, path) == 1  # a cached page costs its stamp only
    for extra in ("data.csv", f"outcomes/{outcome_id}/analysis.R", f"outcomes/{outcome_id}/forest.svg"):
        assert _queries(client, f"/reviews/{computed.slug}/{extra}") <= 4


def test_a_cached_review_page_changes_as_soon_as_the_data_do(client, small):
    """The page cache is keyed so that an edit shows at once (the 'updating' mark, then the result)."""
    small.review.is_public = True
    entity_save(instance=small.review)
    services.review_recompute(small.review.pk)
    first = client.get(f"/reviews/{small.review.slug}/").content.decode()
    assert client.get(f"/reviews/{small.review.slug}/").content.decode() == first  # served from the cache
    small.data.mean = 3.0
    entity_save(instance=small.data)
    updating = client.get(f"/reviews/{small.review.slug}/").content.decode()
    assert updating != first
    services.review_recompute(small.review.pk)
    recomputed = client.get(f"/reviews/{small.review.slug}/").content.decode()
    assert recomputed not in (first, updating)
