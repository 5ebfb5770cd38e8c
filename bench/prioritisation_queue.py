"""How fast is the ranked title/abstract queue, and how long does a retraining take?

Builds a review with ``--records`` records (100,000 by default; synthetic words, bulk-inserted: a
bench fixture), two screeners with a few settled records (includes and excludes), switches the review
to ranked, then measures in one process against PostgreSQL:

- retrain + re-rank + store one screener's ranking (``ranking_retrain``, what the Celery task runs), the
  first after an import (fits the TF-IDF features) and three after decisions (features reused), at
  ``--records`` and at 10,000 records (issue 22's target: under 2 s at 10,000 records);
- the screener's next record (``selectors.screening_queue_next``), ranked against the ring order of an
  in-order review of the same size (the peer, measured in the same run), ``--samples`` times each,
  with a decision recorded through the screening service between two reads so the queue moves.

    .venv/bin/python bench/prioritisation_queue.py [--records 100000] [--samples 200]

Target: next record p95 < 50 ms at 100,000 records, ranked or not. Uses the machine's PostgreSQL at
127.0.0.1:5432 (database ``reviewsite_bench_prioritisation``, recreated) or a private one.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench import pages

pages.DATABASE = "reviewsite_bench_prioritisation"
WORDS = ["peer", "support", "randomised", "trial", "stigma", "recovery", "qualitative", "cohort", "outcome", "anxiety", "soil", "nitrogen", "meadow", "grazing", "carbon", "microbes", "depression", "students", "survey", "help-seeking"]


def build_review(slug: str, records: int, screeners: list) -> object:
    from studies.models import Decision, Record, Role, ScreeningDecision, Stage
    from studies.services import membership_add, review_create

    review = review_create(title=f"Prioritisation benchmark {slug} (synthetic)", slug=slug, is_synthetic=True)
    for user in screeners:
        membership_add(review=review, user=user, role=Role.SCREENER)
    batch = []
    for i in range(records):
        n = len(WORDS)
        batch.append(Record(review=review, title=f"Record {i}: {WORDS[i % n]} and {WORDS[(i * 7) % n]}",
                            abstract=" ".join(WORDS[(i * 3 + j * j) % n] for j in range(120)), year=2000 + i % 22))
        if len(batch) == 5000:
            Record.objects.bulk_create(batch)
            batch = []
    Record.objects.bulk_create(batch)
    settled = list(Record.objects.filter(review=review).order_by("pk").values_list("pk", flat=True)[:200])
    ScreeningDecision.objects.bulk_create([
        ScreeningDecision(record_id=pk, stage=Stage.TITLE_ABSTRACT, screener=user,
                          decision=Decision.INCLUDE if n % 10 == 0 else Decision.EXCLUDE)
        for n, pk in enumerate(settled) for user in screeners])
    return review


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def time_next(review, screener, samples: int) -> list[float]:
    from studies import selectors
    from studies.models import Decision, Stage
    from studies.services import screening

    timings = []
    for n in range(samples):
        start = time.perf_counter()
        record = selectors.screening_queue_next(review=review, stage=Stage.TITLE_ABSTRACT, screener=screener)
        timings.append((time.perf_counter() - start) * 1000)
        screening.decision_record(record=record, stage=Stage.TITLE_ABSTRACT, screener=screener,
                                  decision=Decision.INCLUDE if n % 7 == 0 else Decision.EXCLUDE)
    return timings


def run(records: int, samples: int) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from studies.models import ScreeningOrder
    from studies.services import prioritisation

    # No Celery worker runs here: the retrainings the decisions would ask for are not sent (they would
    # wait in the shared broker's queue); the bench times ranking_retrain directly instead.
    prioritisation._retrain_later = lambda review_id, screener_id: None
    users = get_user_model().objects
    manager = users.create_superuser("bench-prioritisation-manager", password="bench-password-123")
    team = [users.create_user(f"bench-prioritisation-{i}", password="bench-password-123") for i in range(4)]
    ranked = build_review("bench-ranked", records, team[:2])
    in_order = build_review("bench-in-order", records, team[2:])
    small = build_review("bench-ranked-10k", 10_000, team[:2])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    for review in (ranked, small):
        prioritisation.prioritisation_set(review=review, user=manager, order=ScreeningOrder.RANKED)
    import cProfile
    import pstats

    from studies import selectors
    from studies.models import Decision, Stage
    from studies.services import screening

    def timed_retrain(review, label: str) -> float:
        profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profile:
            profile.enable()
        prioritisation.ranking_retrain(review_id=review.pk, screener_id=team[0].pk)
        if profile:
            profile.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"{label}: {wall:.2f} s wall, {cpu:.2f} s CPU (this process; PostgreSQL's not counted)", flush=True)
        if profile:
            pstats.Stats(profile).sort_stats("cumulative").print_stats(18)
        return wall

    for review, size in ((small, 10_000), (ranked, records)):
        # The first retraining after an import fits the review's TF-IDF features; the ones after
        # decisions reuse them (the records did not change) and train only the classifier.
        timed_retrain(review, f"first retrain after an import (fits the features), {size:,} records")
        walls = []
        for n in range(3):
            record = selectors.screening_queue_next(review=review, stage=Stage.TITLE_ABSTRACT, screener=team[0])
            screening.decision_record(record=record, stage=Stage.TITLE_ABSTRACT, screener=team[0],
                                      decision=Decision.INCLUDE if n == 0 else Decision.EXCLUDE)
            walls.append(timed_retrain(review, f"retrain + re-rank + store after a decision, {size:,} records"))
        if size == 10_000:
            print(f"target retrain + re-rank of 10,000 records < 2 s: "
                  f"{'met' if statistics.median(walls) < 2 else 'NOT met'} (median {statistics.median(walls):.2f} s)")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    ranked_ms = time_next(ranked, team[0], samples)
    ring_ms = time_next(in_order, team[2], samples)
    for name, timings in (("ranked", ranked_ms), ("in order (peer)", ring_ms)):
        print(f"next record, {name:16} p50 {statistics.median(timings):6.1f} ms  "
              f"p95 {percentile(timings, 95):6.1f} ms  ({len(timings)} reads, {records:,} records)")
    print(f"ranked / in order, p95: {percentile(ranked_ms, 95) / percentile(ring_ms, 95):.2f}")
    print(f"target next record p95 < 50 ms: {'met' if percentile(ranked_ms, 95) < 50 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        url, cleanups = pages.prepare_database(Path(workdir))
        try:
            os.environ["DATABASE_URL"] = url
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewsite.settings.local")
            run(args.records, args.samples)
        finally:
            for cleanup in cleanups:
                cleanup()


if __name__ == "__main__":
    main()
