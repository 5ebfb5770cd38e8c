"""``manage.py screening_simulate`` through its real stdin/stdout protocol, as the benchmark harness
drives it, on a SYNERGY development review (shared/data/synergy, CC0)."""
import csv
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shared_data import SHARED_DATA

BASE_DIR = Path(__file__).resolve().parents[3]
SYNERGY = SHARED_DATA / "synergy" / "Sep_2021.csv"


def write_records(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "records.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["record_id", "title", "abstract", "year", "doi"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def simulate(records: Path, prior: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "screening_simulate", "--records", str(records),
                             "--prior", prior, *extra], cwd=BASE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)


@pytest.mark.slow
@pytest.mark.skipif(not SYNERGY.exists(), reason="the SYNERGY development set is not on this machine")
def test_protocol_on_a_real_review(tmp_path):
    with open(SYNERGY, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    random.Random(7).shuffle(rows)
    labels = {row["record_id"]: row["label_included"] for row in rows}
    included = next(r for r, v in labels.items() if v == "1")
    excluded = next(r for r, v in labels.items() if v == "0")
    process = simulate(write_records(tmp_path, rows), f"{included},{excluded}")
    asked, stop_at = [], None
    for line in process.stdout:
        line = line.rstrip("\n")
        if line == "STOP":
            assert stop_at is None, "STOP printed twice"
            stop_at = len(asked)
            continue
        assert line in labels, f"not a record id: {line!r}"
        assert line not in (included, excluded) and line not in asked
        asked.append(line)
        process.stdin.write(labels[line] + "\n")
        process.stdin.flush()
    assert process.wait(timeout=60) == 0, process.stderr.read()
    assert len(asked) == len(rows) - 2
    relevant = sum(v == "1" for v in labels.values())
    assert stop_at is not None, "never printed STOP"
    found = 1 + sum(labels[r] == "1" for r in asked[:stop_at])
    assert found / relevant >= 0.95
    assert stop_at < len(asked)  # stopped before the end on this review
    # Ranked: far more of the included records in the first tenth than a random order would give.
    first_tenth = sum(labels[r] == "1" for r in asked[:len(asked) // 10])
    assert first_tenth >= 2 * relevant / 10


def test_unknown_prior_is_a_clear_error(tmp_path):
    records = write_records(tmp_path, [{"record_id": "A", "title": "t", "abstract": "a"},
                                       {"record_id": "B", "title": "u", "abstract": "b"}])
    process = simulate(records, "A,NOPE")
    out, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert out == ""
    assert "NOPE not in" in err


def test_a_bad_answer_is_a_clear_error(tmp_path):
    records = write_records(tmp_path, [{"record_id": r, "title": f"title {r}", "abstract": "text"}
                                       for r in ("A", "B", "C", "D")])
    process = simulate(records, "A,B")
    out, err = process.communicate("maybe\n", timeout=60)
    assert process.returncode != 0
    assert out.strip() in ("C", "D")
    assert "must be 1 or 0" in err


def test_a_confidence_outside_what_a_manager_may_choose_is_a_clear_error(tmp_path):
    records = write_records(tmp_path, [{"record_id": r, "title": f"title {r}", "abstract": "text"}
                                       for r in ("A", "B", "C")])
    process = simulate(records, "A,B", "--confidence", "0.5")
    out, err = process.communicate(timeout=60)
    assert process.returncode != 0 and out == ""
    assert "--confidence must be between 0.8 and 0.999, not 0.5" in err


def test_a_higher_confidence_stops_no_earlier_and_still_stops():
    from studies.prioritisation.session import PrioritisedScreening

    # 600 records, 12 relevant about one topic, in an order the ranking must find them in.
    rng = random.Random(3)
    relevant = set(rng.sample(range(600), 12))
    texts = [f"peer support reduced self-stigma trial {i}" if i in relevant else
             f"soil nitrogen in {rng.choice(['alpine', 'grassland', 'meadow'])} plots {i}" for i in range(600)]
    first_relevant, first_other = min(relevant), min(set(range(600)) - relevant)
    stops = {}
    for confidence in (0.95, 0.99):
        screening = PrioritisedScreening(texts, {first_relevant: 1, first_other: 0}, confidence=confidence)
        asked = 0
        while (index := screening.next_record()) is not None:
            screening.record_decision(index, index in relevant)
            asked += 1
            if screening.stop_indicated():
                assert screening.stopping().confidence == confidence and screening.stopping().can_stop
                stops[confidence] = asked
                break
    assert set(stops) == {0.95, 0.99} and stops[0.95] < stops[0.99] < 598, stops
