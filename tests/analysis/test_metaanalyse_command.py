"""``manage.py metaanalyse`` end to end through Django's command machinery.

No test here uses the database: the command must work with none reachable.
"""

import io
import json
import re
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


def _run_with_stderr(*args):
    out, err = StringIO(), StringIO()
    call_command("metaanalyse", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


DICHOTOMOUS = ("study,events1,total1,events2,total2,subgroup\n"
               "Müller 2001,3,10,2,10,Île-de-France\nÅberg 2003,5,20,4,21,Île-de-France\n"
               "Núñez 2005,7,30,9,29,Baden-Württemberg\n")


def test_a_latin1_excel_export_is_read_with_a_note(tmp_path):
    utf8 = tmp_path / "utf8.csv"
    utf8.write_bytes(DICHOTOMOUS.encode("utf-8"))
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(DICHOTOMOUS.encode("latin-1"))  # Excel "CSV (Comma delimited)" on Windows
    expected, quiet = _run_with_stderr(str(utf8))
    assert quiet == ""
    out, note = _run_with_stderr(str(latin1))
    assert out == expected  # same labels, same numbers
    assert [s["study"] for s in json.loads(out)["studies"]] == ["Müller 2001", "Åberg 2003", "Núñez 2005"]
    assert "not UTF-8 (first at line 2)" in note and "Windows-1252" in note


def test_utf16_and_utf8_with_bom_are_read(tmp_path):
    expected = _run(_write(tmp_path, "plain.csv", DICHOTOMOUS.encode("utf-8")))
    for name, content in (("bom.csv", DICHOTOMOUS.encode("utf-8-sig")),
                          ("utf16.csv", DICHOTOMOUS.encode("utf-16"))):  # with its byte-order mark
        assert _run(_write(tmp_path, name, content)) == expected


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


@pytest.mark.parametrize("text, message", [
    ("study,effect,se\nA,0.1,0.2\nB,0.2,0.3\nA,0.3,0.1\n",
     "line 4, column 'study': duplicate study label 'A' (first on line 2)"),
    ("study,effect,se,subgroup\nA,0.1,0.2,x\nB,0.2,0.3,\n",
     "line 3, column 'subgroup': empty subgroup name"),
    ("study,effect,se\nA,0.1,0.2\nSmith, J 2001,0.2,0.3\n",
     "line 3: 4 fields, but the header has 3 columns"),
    ("study,effect,se\nA,0.1,0.2,\n", "line 2: 4 fields, but the header has 3 columns"),
])
def test_ambiguous_rows_are_refused_naming_the_line(tmp_path, text, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        _run(_write(tmp_path, "bad.csv", text.encode()))


def test_a_binary_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match="not a text file"):
        _run(_write(tmp_path, "sheet.xlsx", b"PK\x03\x04\x00\x00binary"))


def test_standard_input_is_decoded_like_a_file(tmp_path, monkeypatch):
    expected = _run(_write(tmp_path, "plain.csv", DICHOTOMOUS.encode("utf-8")))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(DICHOTOMOUS.encode("latin-1"))))
    out, note = _run_with_stderr("-")
    assert out == expected and "read as Windows-1252" in note
