"""The SVG figure builders: what a plot shows matches the results it was given (parsed with
xml.etree, as a screen reader or a downloader would read the file)."""
import math
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest

from analysis.engine import AnalysisOptions, ContinuousArms, DichotomousArms, analyse
from analysis.engine.report import result_to_dict
from analysis.figures import (
    HistoryPoint, forest_layout, forest_svg, funnel_layout, funnel_svg, history_layout, history_svg,
)

SVG = "{http://www.w3.org/2000/svg}"
LABELS = ["Alpha 2001", "Beta 2004", "Gamma 2010", "Delta 2015", "Epsilon 2019"]
ARMS = dict(n1=[40, 55, 30, 80, 62], mean1=[-4.2, -1.0, -6.1, -2.2, 0.4], sd1=[6.1, 5.5, 7.0, 6.4, 5.9],
            n2=[42, 50, 31, 78, 60], mean2=[-1.0, -0.5, -0.2, -1.9, 0.1], sd2=[5.8, 5.2, 6.6, 6.0, 6.3])


def continuous_payload(subgroup=None, model_rule="auto") -> dict:
    result = analyse(ContinuousArms(**ARMS), options=AnalysisOptions(measure="SMD", model_rule=model_rule),
                     subgroup=subgroup, direction="lower")
    payload = result_to_dict(result, LABELS, ["HOP", "non-HOP"] if subgroup is not None else None)
    payload["arms"] = [
        {"study": label, "year": 2000, "intervention": {"n": ARMS["n1"][i], "mean": ARMS["mean1"][i], "sd": ARMS["sd1"][i]},
         "control": {"n": ARMS["n2"][i], "mean": ARMS["mean2"][i], "sd": ARMS["sd2"][i]}}
        for i, label in enumerate(LABELS)
    ]
    return payload


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def texts(element: ET.Element) -> list[str]:
    return [t.text or "" for t in element.iter(f"{SVG}text")]


def test_forest_plot_shows_every_study_with_its_weight_effect_and_arms():
    payload = continuous_payload()
    root = parse(forest_svg(forest_layout(payload, title="Self-stigma")))
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Forest plot: Self-stigma"
    assert "Pooled Std. Mean Difference" in root.find(f"{SVG}desc").text
    rows = [g for g in root.iter(f"{SVG}g") if "study" in g.get("class", "").split()]
    assert [g.get("data-study") for g in rows] == [s["study"] for s in payload["studies"]]
    key = "weight_random" if payload["chosen_model"] == "random" else "weight_fixed"
    for g, study, arms in zip(rows, payload["studies"], payload["arms"], strict=True):
        shown = texts(g)
        assert f"{study[key]:.1f}%" in shown
        assert f"{study['effect']:.2f} [{study['ci_low']:.2f}, {study['ci_high']:.2f}]".replace("-0.00", "0.00") in shown
        assert [f"{arms['intervention']['mean']:g}", f"{arms['intervention']['sd']:g}", f"{arms['intervention']['n']:g}"] \
            == shown[1:4]
        assert len(g.findall(f"{SVG}rect")) == 1  # one square per study
    weights = [float(g.get("data-weight")) for g in rows]
    assert sum(weights) == pytest.approx(100, abs=0.3)
    # Squares are sized by weight: the heaviest study has the biggest square.
    sides = [float(g.find(f"{SVG}rect").get("width")) for g in rows]
    assert sides.index(max(sides)) == weights.index(max(weights))


def test_forest_plot_total_diamond_and_revman_lines():
    payload = continuous_payload()
    root = parse(forest_svg(forest_layout(payload, title="Self-stigma")))
    all_text = texts(root)
    total = next(g for g in root.iter(f"{SVG}g") if "total" in g.get("class", "").split())
    assert total.find(f"{SVG}polygon").get("class") == "diamond"
    pooled = payload[payload["chosen_model"]]
    assert f"{pooled['estimate']:.2f} [{pooled['ci_low']:.2f}, {pooled['ci_high']:.2f}]" in texts(total)
    assert str(sum(ARMS["n1"])) in texts(total) and str(sum(ARMS["n2"])) in texts(total)
    h = payload["heterogeneity"]
    assert any(t.startswith("Heterogeneity: ") and f"Chi² = {h['q']:.2f}, df = {h['df']}" in t
               and f"I² = {round(h['i2'])}%" in t for t in all_text)
    assert any(t.startswith(f"Test for overall effect: Z = {abs(pooled['z']):.2f}") for t in all_text)
    # Lower is better: the left side favours the intervention.
    assert root.find(f".//{SVG}text[@class='favours-left']").text == "Favours experimental"
    assert root.find(f".//{SVG}text[@class='favours-right']").text == "Favours control"


def test_fixed_effect_heterogeneity_line_has_no_tau2():
    payload = continuous_payload(model_rule="fixed")
    notes = [r.label for r in forest_layout(payload, title="x").rows if r.kind == "note"]
    assert notes[0].startswith("Heterogeneity: Chi²")


def test_subgroup_forest_plot_has_subtotals_and_the_test_for_differences():
    payload = continuous_payload(subgroup=[0, 0, 1, 0, 1])
    layout = forest_layout(payload, title="Self-stigma")
    kinds = [(r.kind, r.label) for r in layout.rows if r.kind in ("heading", "subtotal", "total")]
    assert kinds == [("heading", "HOP"), ("subtotal", "Subtotal (95% CI)"), ("heading", "non-HOP"),
                     ("subtotal", "Subtotal (95% CI)"), ("total", "Total (95% CI)")]
    subtotals = [r for r in layout.rows if r.kind == "subtotal"]
    assert sum(r.weight for r in subtotals) == pytest.approx(100)
    model = payload["chosen_model"]
    assert [r.effect for r in subtotals] == [s[model]["estimate"] for s in payload["subgroups"]]
    test = payload["subgroup_test"][model]
    root = parse(forest_svg(layout))
    assert f"Test for subgroup differences: Chi² = {test['q']:.2f}, df = 1 (P = {test['p']:.2f}), I² = {test['i2']:.1f}%" \
        in texts(root)
    assert len([g for g in root.iter(f"{SVG}g") if "study" in g.get("class", "").split()]) == 5


def test_ratio_forest_plot_uses_the_ratio_scale_and_event_totals():
    arms = DichotomousArms(events1=[4, 10, 3], total1=[50, 60, 40], events2=[9, 14, 8], total2=[48, 61, 42])
    result = analyse(arms, options=AnalysisOptions(measure="OR", method="MH"), direction="lower")
    payload = result_to_dict(result, ["A 2001", "B 2002", "C 2003"])
    payload["arms"] = [{"study": s, "year": None, "intervention": {"events": e1, "total": t1},
                        "control": {"events": e2, "total": t2}}
                       for s, e1, t1, e2, t2 in zip(["A 2001", "B 2002", "C 2003"], arms.events1, arms.total1,
                                                    arms.events2, arms.total2, strict=True)]
    layout = forest_layout(payload, title="Relapse")
    assert layout.measure_label == "Odds Ratio" and layout.method_text.startswith("M-H")
    total = next(r for r in layout.rows if r.kind == "total")
    assert total.effect_text.startswith(f"{payload['fixed']['ratio']:.2f}")
    assert "Total events: 17 (Experimental), 31 (Control)" in [r.label for r in layout.rows]
    root = parse(forest_svg(layout))
    assert "1" in texts(root)  # the line of no effect is labelled 1 on a ratio axis


def test_funnel_plot_has_a_point_per_study_and_limits():
    payload = continuous_payload()
    layout = funnel_layout(payload, title="Self-stigma")
    root = parse(funnel_svg(layout))
    points = [c.get("data-study") for c in root.iter(f"{SVG}circle")]
    assert points == LABELS
    assert root.find(f".//{SVG}polygon[@class='limits']") is not None
    assert math.isclose(layout.centre, payload["fixed"]["estimate"])


def test_history_chart_has_a_mark_per_run_and_describes_the_move():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    points = [HistoryPoint(start + timedelta(days=i), i + 1, -0.1 * i, -0.1 * i - 0.3, -0.1 * i + 0.3) for i in range(4)]
    layout = history_layout(points, title="Self-stigma", measure="SMD")
    root = parse(history_svg(layout))
    runs = [g.get("data-version") for g in root.iter(f"{SVG}g") if g.get("class") == "run"]
    assert runs == ["1", "2", "3", "4"]
    assert "from 0.00 [-0.30, 0.30] (data version 1" in root.find(f"{SVG}desc").text
    assert "to -0.30 [-0.60, 0.00] (data version 4" in root.find(f"{SVG}desc").text


def test_labels_are_escaped():
    payload = continuous_payload()
    payload["studies"][0]["study"] = payload["arms"][0]["study"] = "Smith & <Jones> 2020"
    root = parse(forest_svg(forest_layout(payload, title="A & B")))
    assert root.find(f"{SVG}title").text == "Forest plot: A & B"
