"""RevMan 5 display conventions."""

import pytest

from analysis.engine import Measure
from analysis.engine.formatting import (
    format_effect_ci,
    format_p,
    format_weight,
    heterogeneity_line,
    overall_effect_line,
    subgroup_test_line,
)


@pytest.mark.parametrize(
    "p, text",
    [(0.1234, "P = 0.12"), (0.0544, "P = 0.05"), (0.0123, "P = 0.01"), (0.0099, "P = 0.010"),
     (0.00234, "P = 0.002"), (0.00031, "P = 0.0003"), (0.0000762, "P < 0.0001"),
     (0.0000099, "P < 0.00001"), (0.0, "P < 0.00001"), (1.0, "P = 1.00")],
)
def test_p_values_are_printed_like_revman(p, text):
    assert format_p(p) == text


def test_revman_summary_lines():
    assert (heterogeneity_line(41.8812, 13, 0.0000762, 68.96, tau2=0.1414)
            == "Heterogeneity: Tau² = 0.14; Chi² = 41.88, df = 13 (P < 0.0001); I² = 69%")
    assert (heterogeneity_line(3.2, 4, 0.52, 0.0)
            == "Heterogeneity: Chi² = 3.20, df = 4 (P = 0.52); I² = 0%")
    assert overall_effect_line(-1.5401, 0.1235) == "Test for overall effect: Z = 1.54 (P = 0.12)"
    assert (subgroup_test_line(3.7012, 1, 0.0544, 72.98)
            == "Test for subgroup differences: Chi² = 3.70, df = 1 (P = 0.05), I² = 73.0%")


def test_effects_weights_and_ratios():
    assert format_weight(12.345) == "12.3%"
    assert format_effect_ci(-0.004, -0.2, 0.19, Measure.SMD) == "0.00 [-0.20, 0.19]"
    assert format_effect_ci(0.0, -0.6931471805599453, 0.6931471805599453, Measure.OR) == (
        "1.00 [0.50, 2.00]")
