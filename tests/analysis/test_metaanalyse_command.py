"""``manage.py metaanalyse`` end to end through Django's command machinery.

No test here uses the database: the command must work with none reachable.
"""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

DATA = Path(__file__).parent / "engine" / "data"


def _run(*args):
    out = StringIO()
    call_command("metaanalyse", *args, stdout=out)
    return out.getvalue()


def test_prints_json_by_default():
    out = json.loads(_run(str(DATA / "bcg.csv"), "--measure", "OR", "--tau2", "REML", "--hksj"))
    assert out["measure"] == "OR" and out["tau2_method"] == "REML" and out["hksj"]
    assert out["random"]["test"] == "t" and out["random"]["df"] == 12
    assert len(out["studies"]) == 13 and len(out["leave_one_out"]) == 13


def test_prints_a_revman_style_summary():
    text = _run(str(DATA / "normand1999.csv"), "--format", "text", "--model", "fixed",
                "--i2-threshold", "40", "--level", "0.9")
    assert text.startswith("Mean Difference, IV, Fixed, 90% CI")
    assert "Test for subgroup differences:" in text


def test_bad_input_exits_with_a_message_naming_line_and_column(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("study,events1,total1,events2,total2\nA,3,10,2,10\nB,3,10,12,10\n")
    with pytest.raises(CommandError, match="line 3, column 'events2'"):
        _run(str(bad))
    with pytest.raises(CommandError, match="cannot read"):
        _run(str(tmp_path / "missing.csv"))
