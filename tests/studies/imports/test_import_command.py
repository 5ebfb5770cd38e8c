"""``manage.py import_records`` prints a JSON summary and fails on a bad file."""
import json
from pathlib import Path

from django.core.management import CommandError, call_command
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def test_command_imports_and_prints_json(small, capsys, tmp_path):
    call_command("import_records", str(FIXTURES / "wos.txt"), review=small.review.slug, source="Web of Science",
                 searched_on=None)
    out = json.loads(capsys.readouterr().out)
    assert (out["imported"], out["duplicates"], out["queued"], out["errors"]) == (2, 0, 0, [])
    bad = tmp_path / "bad.ris"
    bad.write_bytes(b"PNG\x00\x00 not an export")
    with pytest.raises(CommandError) as caught:
        call_command("import_records", str(bad), review=small.review.slug, source="Embase")
    assert caught.value.returncode == 2 and "binary file" in str(caught.value)
