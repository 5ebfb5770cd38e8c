"""Risk-of-bias figures, parsed as a reader's tools would: every judgment has its symbol as well as
its colour, percentages add up (by studies and by analysis weight), and the forest plot's column
shows each study's consensus judgments."""
import xml.etree.ElementTree as ET

import pytest

from analysis.figures import (
    RobRow, RobTable, forest_layout, forest_svg, summary_bar_svg, summary_percentages, traffic_light_svg,
)
from analysis.figures.risk_of_bias import FILL, SYMBOLS

from test_figures import continuous_payload

SVG = "{http://www.w3.org/2000/svg}"
DOMAINS = (("D1", "Randomisation"), ("D2", "Deviations"), ("D3", "Missing data"), ("D4", "Measurement"),
           ("D5", "Selection"))
TABLE = RobTable("ROB2", DOMAINS, (
    RobRow("Alpha 2001", ("low", "low", "low", "low", "low"), "low"),
    RobRow("Beta 2004", ("low", "high", "low", "low", "some_concerns"), "high"),
    RobRow("Gamma 2010", ("some_concerns", "low", "low", "low", "low"), "some_concerns"),
    RobRow("Delta 2015", ("low", "low", "low", "some_concerns", "low"), "some_concerns"),
))


def marks(root, css_class):
    return [g for g in root.iter(f"{SVG}g") if css_class in (g.get("class") or "").split()]


def test_traffic_light_shows_each_judgment_by_symbol_and_colour():
    root = ET.fromstring(traffic_light_svg(TABLE, title="Risk of bias"))
    rows = marks(root, "study")
    assert [g.get("data-study") for g in rows] == ["Alpha 2001", "Beta 2004", "Gamma 2010", "Delta 2015"]
    for g, row in zip(rows, TABLE.rows, strict=True):
        cells = marks(g, "judgment")
        assert [c.get("data-domain") for c in cells] == ["D1", "D2", "D3", "D4", "D5", "Overall"]
        assert [c.get("data-judgment") for c in cells] == [*row.domains, row.overall]
        for cell in cells:
            key = cell.get("data-judgment")
            assert cell.find(f"{SVG}circle").get("fill") == FILL[key]
            assert cell.find(f"{SVG}text").text == SYMBOLS[key]  # the symbol alone tells the judgment
    assert len({SYMBOLS[k] for k in ("low", "some_concerns", "high")}) == 3
    legend = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "judgment-key"]
    assert legend == ["Low risk", "Some concerns", "High risk"]
    assert "Beta 2004: D1 Low risk, D2 High risk" in root.find(f"{SVG}desc").text


def test_unassessed_cells_are_marked_not_assessed():
    table = RobTable("ROB1", (("A", "Sequence"),), (RobRow("Solo 2020", ("",), None),))
    root = ET.fromstring(traffic_light_svg(table, title="t"))
    assert [c.get("data-judgment") for c in marks(root, "judgment")] == ["not_assessed", "not_assessed"]


def test_summary_percentages_by_studies_and_by_weight():
    unweighted = summary_percentages(TABLE)
    assert unweighted["D2"] == {"low": 75.0, "high": 25.0}
    assert unweighted["Overall"] == {"low": 25.0, "high": 25.0, "some_concerns": 50.0}
    weighted = summary_percentages(TABLE, {"Alpha 2001": 10, "Beta 2004": 30, "Gamma 2010": 40, "Delta 2015": 20})
    assert weighted["D2"] == pytest.approx({"low": 70.0, "high": 30.0})
    assert weighted["Overall"] == pytest.approx({"low": 10.0, "high": 30.0, "some_concerns": 60.0})
    for column in weighted.values():
        assert sum(column.values()) == pytest.approx(100)


def test_summary_bar_parts_are_sized_and_labelled_by_percentage():
    weights = {"Alpha 2001": 10, "Beta 2004": 30, "Gamma 2010": 40, "Delta 2015": 20}
    root = ET.fromstring(summary_bar_svg(TABLE, title="Summary", weights=weights))
    parts = marks(root, "part")
    overall = {g.get("data-judgment"): g for g in parts if g.get("data-domain") == "Overall"}
    assert {k: float(g.get("data-percent")) for k, g in overall.items()} == {"low": 10.0, "some_concerns": 60.0,
                                                                              "high": 30.0}
    widths = {k: float(g.find(f"{SVG}rect").get("width")) for k, g in overall.items()}
    assert widths["some_concerns"] == pytest.approx(2 * widths["high"], abs=0.02)
    assert overall["high"].find(f"{SVG}text").text == "− 30%"
    assert "Percentage of analysis weight" in [t.text for t in root.iter(f"{SVG}text")]
    plain = ET.fromstring(summary_bar_svg(TABLE, title="Summary"))
    assert "Percentage of studies" in [t.text for t in plain.iter(f"{SVG}text")]


def test_forest_plot_has_a_risk_of_bias_column_when_the_payload_has_judgments():
    payload = continuous_payload()
    without = ET.fromstring(forest_svg(forest_layout(payload, title="Self-stigma")))
    assert marks(without, "rob") == []
    payload["risk_of_bias"] = {
        "tool": "ROB2", "domains": [list(d) for d in DOMAINS],
        "studies": {row.label: {"domains": list(row.domains), "overall": row.overall} for row in TABLE.rows},
    }
    root = ET.fromstring(forest_svg(forest_layout(payload, title="Self-stigma")))
    studies = [g for g in root.iter(f"{SVG}g") if "study" in (g.get("class") or "").split()]
    by_study = {g.get("data-study"): [(m.get("data-domain"), m.get("data-judgment")) for m in marks(g, "rob")]
                for g in studies}
    assert by_study["Beta 2004"] == [("D1", "low"), ("D2", "high"), ("D3", "low"), ("D4", "low"),
                                     ("D5", "some_concerns"), ("O", "high")]
    assert {j for _, j in by_study["Epsilon 2019"]} == {"not_assessed"}  # in the analysis, not assessed
    key = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "rob-key"]
    assert key[0].startswith("Risk of bias (consensus, RoB 2): D1 Randomisation")
    assert "− High risk" in key[1]
    assert float(root.get("width")) > float(without.get("width"))
