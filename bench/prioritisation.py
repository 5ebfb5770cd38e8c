"""How well does prioritised screening rank, and when does its stopping rule stop?

On the SYNERGY development reviews (../shared/data/synergy/, README there), for several seeds (each
seed shuffles the rows and picks the two priors, one included and one excluded record), three
orders of the same records from the same priors, in the same run:

- ours: ``manage.py screening_simulate`` as a subprocess, through the real stdin/stdout protocol
  (the protocol is checked: no prior, no repeat, every record asked, STOP at most once);
- ASReview LAB's default model (ELAS u4: TF-IDF + SVM, max query) through ASReview's own Simulate,
  in a separate virtual environment created on first run (``--asreview-venv``; never a product
  dependency);
- random order.

Per run: WSS@95, recall after 10% screened, share screened at STOP and recall then, wall time. The
stopping rule (Callaghan & Müller-Hansen 2020, studies/prioritisation/stopping.py) is also applied
to ASReview's and the random order ("buscar on ASReview's order") to compare where it stops.
The priors count as screened first; recall counts the included prior as found.

    .venv/bin/python bench/prioritisation.py [--seeds 0,1,2] [--reviews Sep_2021,...] [--no-asreview]
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from studies.prioritisation.stopping import stopping_p_value

DATA_DIR = Path(os.environ.get("SHARED_DATA") or BASE_DIR.parent / "shared" / "data") / "synergy"
if not DATA_DIR.exists():
    DATA_DIR = Path("/work/shared/data/synergy")
REVIEWS = ("Sep_2021", "van_der_Valk_2021", "Oud_2018", "Menon_2022")
DEFAULT_ASREVIEW_VENV = BASE_DIR.parent / "asreview-venv"
ASREVIEW_VERSION = "3.0.8"


def ensure_asreview(venv: Path) -> Path:
    """The Python of a virtual environment with asreview installed (created on first run)."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # Run where importing asreview may leave its dataset cache file (synergy_cache.sqlite): the venv.
    probe = subprocess.run([str(python), "-c", "import asreview"], check=False, capture_output=True, cwd=venv)
    if probe.returncode != 0:
        print(f"installing asreview=={ASREVIEW_VERSION} into {venv} ...", file=sys.stderr)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"asreview=={ASREVIEW_VERSION}"],
                       check=True)
    return python


def load_review(name: str) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    with open(DATA_DIR / f"{name}.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def run_ours(records_csv: Path, included: str, excluded: str, labels: dict[str, int]
             ) -> tuple[list[str], int | None, float]:
    """Drive screening_simulate through the protocol; returns (order asked, records asked before
    STOP, seconds). Fails loudly on any breach of the protocol."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(BASE_DIR / "manage.py"), "screening_simulate",
         "--records", str(records_csv), "--prior", f"{included},{excluded}"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1,
        cwd=BASE_DIR,
    )
    order: list[str] = []
    asked: set[str] = {included, excluded}
    stop_after = None
    for line in process.stdout:
        line = line.rstrip("\n")
        if line == "STOP":
            if stop_after is not None:
                raise AssertionError("STOP printed twice")
            stop_after = len(order)
            continue
        if line not in labels:
            raise AssertionError(f"unknown id on stdout: {line!r}")
        if line in asked:
            raise AssertionError(f"asked twice or a prior: {line}")
        asked.add(line)
        order.append(line)
        process.stdin.write(f"{labels[line]}\n")
        process.stdin.flush()
    process.stdin.close()
    if process.wait() != 0:
        raise AssertionError(f"screening_simulate exited with {process.returncode}")
    if len(asked) != len(labels):
        raise AssertionError(f"exited after asking {len(order)} of {len(labels) - 2} records")
    return order, stop_after, time.monotonic() - started


def run_asreview(python: Path, labelled_csv: Path, included: str, excluded: str
                 ) -> tuple[list[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [str(python), str(BASE_DIR / "bench" / "asreview_elas_u4.py"), str(labelled_csv),
         included, excluded], capture_output=True, text=True, check=True,
        cwd=labelled_csv.parent,  # asreview leaves a dataset cache file in its working directory
    )
    return json.loads(result.stdout)["order"], time.monotonic() - started


def buscar_stop(order_labels: list[int], records_total: int) -> int | None:
    """Records asked (after the priors) when the stopping rule first says stop on this order."""
    for asked in range(1, len(order_labels) + 1):
        if stopping_p_value(order_labels[:asked], records_total - 2, relevant_before=1) < 0.05:
            return asked
    return None


def measures(order_labels: list[int], stop_after: int | None, records_total: int) -> dict:
    """WSS@95, recall at 10%, share screened and recall at STOP; the priors count as screened first."""
    relevant_total = sum(order_labels) + 1
    found = 1 + np.cumsum(order_labels)                   # after 1, 2, ... records asked
    target = math.ceil(0.95 * relevant_total)
    screened_at_95 = 2 + int(np.argmax(found >= target)) + 1
    ten_percent = max(0, round(0.10 * records_total) - 2)
    return {
        "wss95": (records_total - screened_at_95) / records_total - 0.05,
        "recall10": (found[ten_percent - 1] if ten_percent else 1) / relevant_total,
        "stop_share": (stop_after + 2) / records_total if stop_after else None,
        "stop_recall": found[stop_after - 1] / relevant_total if stop_after else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--reviews", default=",".join(REVIEWS))
    parser.add_argument("--no-asreview", action="store_true")
    parser.add_argument("--asreview-venv", type=Path, default=DEFAULT_ASREVIEW_VENV)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    asreview_python = None if args.no_asreview else ensure_asreview(args.asreview_venv)

    rows: list[dict] = []
    for review in args.reviews.split(","):
        records = load_review(review)
        for seed in seeds:
            rng = np.random.default_rng(seed)
            shuffled = [records[i] for i in rng.permutation(len(records))]
            labels = {r["record_id"]: int(r["label_included"]) for r in shuffled}
            included = str(rng.choice([r for r, v in labels.items() if v == 1]))
            excluded = str(rng.choice([r for r, v in labels.items() if v == 0]))
            total = len(labels)
            with tempfile.TemporaryDirectory() as tmp:
                unlabelled = Path(tmp) / "records.csv"
                labelled = Path(tmp) / "labelled.csv"
                columns = ["record_id", "title", "abstract", "year", "doi"]
                with open(unlabelled, "w", newline="", encoding="utf-8") as handle:
                    writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
                    writer.writeheader()
                    writer.writerows(shuffled)
                with open(labelled, "w", newline="", encoding="utf-8") as handle:
                    writer = csv.DictWriter(handle, fieldnames=columns + ["label_included"],
                                            extrasaction="ignore")
                    writer.writeheader()
                    writer.writerows(shuffled)
                orders = {}
                order, stop_after, seconds = run_ours(unlabelled, included, excluded, labels)
                orders["ours"] = (order, stop_after, seconds)
                if asreview_python:
                    order, seconds = run_asreview(asreview_python, labelled, included, excluded)
                    asreview_labels = [labels[r] for r in order]
                    orders["asreview"] = (order, buscar_stop(asreview_labels, total), seconds)
                pool = [r for r in labels if r not in (included, excluded)]
                order = [pool[i] for i in rng.permutation(len(pool))]
                orders["random"] = (order, buscar_stop([labels[r] for r in order], total), 0.0)
            for model, (order, stop_after, seconds) in orders.items():
                row = {"review": review, "seed": seed, "model": model, "seconds": seconds,
                       **measures([labels[r] for r in order], stop_after, total)}
                rows.append(row)
                print(f"{review:18} seed {seed} {model:8} WSS@95 {row['wss95']:.3f}  "
                      f"recall@10% {row['recall10']:.3f}  STOP at {_fmt(row['stop_share'])} "
                      f"recall {_fmt(row['stop_recall'])}  {seconds:.1f} s", flush=True)
    report(rows)


def _fmt(value: float | None) -> str:
    return "never" if value is None else f"{value:.3f}"


def report(rows: list[dict]) -> None:
    models = sorted({r["model"] for r in rows}, key=["ours", "asreview", "random"].index)
    reviews = list(dict.fromkeys(r["review"] for r in rows))
    print("\nMedian over seeds (STOP: ours = our command's STOP; others = the same stopping rule on "
          "their order)")
    print(f"{'review':18} {'model':8} {'WSS@95':>7} {'rec@10%':>8} {'STOP share':>10} "
          f"{'min rec@STOP':>12} {'seconds':>8}")
    for review in reviews + ["ALL"]:
        for model in models:
            mine = [r for r in rows if r["model"] == model and review in ("ALL", r["review"])]
            stops = [r["stop_share"] for r in mine if r["stop_share"] is not None]
            recalls = [r["stop_recall"] for r in mine if r["stop_recall"] is not None]
            print(f"{review:18} {model:8} {statistics.median(r['wss95'] for r in mine):7.3f} "
                  f"{statistics.median(r['recall10'] for r in mine):8.3f} "
                  f"{(statistics.median(stops) if stops else float('nan')):10.3f} "
                  f"{(min(recalls) if recalls else float('nan')):12.3f} "
                  f"{statistics.median(r['seconds'] for r in mine):8.1f}"
                  + ("" if len(stops) == len(mine) else f"  ({len(mine) - len(stops)} never stopped)"))
    if "asreview" in models:
        ours = [r for r in rows if r["model"] == "ours"]
        theirs = [r for r in rows if r["model"] == "asreview"]
        ratio = statistics.median(r["wss95"] for r in ours) / statistics.median(r["wss95"] for r in theirs)
        print(f"\nmedian WSS@95 ours / ASReview ELAS u4: {ratio:.3f}")
        ours_stop = statistics.median(r["stop_share"] for r in ours if r["stop_share"])
        their_stop = statistics.median(r["stop_share"] for r in theirs if r["stop_share"])
        print(f"median share screened at STOP: ours {ours_stop:.3f}, "
              f"the same rule on ASReview's order {their_stop:.3f}")
        print(f"every run of ours stopped with recall >= 0.95: "
              f"{all(r['stop_recall'] is not None and r['stop_recall'] >= 0.95 for r in ours)}")


if __name__ == "__main__":
    main()
