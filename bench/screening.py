"""How fast does screening serve the next record and record a decision with many screeners at once?

Builds a review with ``--records`` records (100,000 by default; ``--screened`` of them already
dual-screened, so the queue's anti-joins have real work), ``--screeners`` screeners and a tutor,
serves it under gunicorn (DEBUG off) against PostgreSQL, and has every screener work through their
own queue at the same time on loopback: GET the next record, POST a decision (not following the
redirect), repeat. Each screener is a thread with its own keep-alive ``http.client`` connection and
its own signed-in session. The peer measured in the same run is ``/healthz``, a trivial view of the
same server that also touches the database (the floor).

Afterwards every decision a screener was told was recorded (HTTP 302) is looked for in the database:
a missing one is *lost*, a (record, stage, screener) with more than one row is *duplicated*.

    .venv/bin/python bench/screening.py [--records 100000] [--screened 20000] [--screeners 20]
                                        [--rounds 60] [--think 1.0] [--workers 4]

Screeners pause ``--think`` seconds between decisions (1 s by default, ten times faster than anyone
reads an abstract); the targets are checked on that run. A second, saturating run with no pause
reports capacity (decisions per second), where latency is queueing for the machine's cores.

Before the load, the whole-review status queries (PRISMA's counts, the tutor's conflicts, the settled
verdicts a ranking trains on) are timed in process beside a plain count of the review's records.

Targets (issue 7): next record p95 < 50 ms, decision p95 < 100 ms, zero lost or duplicated decisions.
Uses the machine's PostgreSQL at 127.0.0.1:5432 (database ``reviewsite_bench_screening``, recreated)
or a private one.
"""
from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
import http.client
import os
from pathlib import Path
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlencode

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench import pages  # noqa: E402  (reuses its database set-up)
from reviewsite import embedded  # noqa: E402

pages.DATABASE = "reviewsite_bench_screening"
SLUG = "bench-screening"
PASSWORD = "bench-screening-password"


def build(records: int, screened: int, screeners: int) -> None:
    """Runs in a child process: migrate and build the review. Rows are bulk-inserted directly (a
    bench fixture, not a product path: the import and screening services are what is measured)."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from studies.models import Decision, Record, Role, ScreeningDecision, Stage
    from studies.services import membership_add, review_create

    users = get_user_model().objects
    review = review_create(title="Screening benchmark (synthetic)", slug=SLUG, is_synthetic=True,
                           include_terms=["randomised", "peer"], exclude_terms=["qualitative"])
    team = [users.create_user(f"bench-screener-{i}", password=PASSWORD) for i in range(screeners)]
    for user in team:
        membership_add(review=review, user=user, role=Role.SCREENER)
    words = "peer support randomised trial stigma recovery qualitative cohort outcome anxiety".split()
    batch = []
    for i in range(records):
        batch.append(Record(
            review=review, title=f"Synthetic record {i}: {words[i % 10]} and {words[(i * 7) % 10]} in a trial",
            abstract=" ".join(words[(i + j) % 10] for j in range(90)), year=2000 + i % 22,
            journal="Journal of Benchmarks", keywords=[words[i % 10], words[(i + 3) % 10]],
        ))
        if len(batch) == 5000:
            Record.objects.bulk_create(batch)
            batch = []
    Record.objects.bulk_create(batch)
    ids = list(Record.objects.filter(review=review).order_by("pk").values_list("pk", flat=True)[:screened])
    decisions = []
    for n, record_id in enumerate(ids):
        a, b = team[n % screeners], team[(n + 1) % screeners]
        verdict = Decision.EXCLUDE if n % 9 else Decision.INCLUDE
        decisions += [ScreeningDecision(record_id=record_id, stage=Stage.TITLE_ABSTRACT, screener=a, decision=verdict),
                      ScreeningDecision(record_id=record_id, stage=Stage.TITLE_ABSTRACT, screener=b, decision=verdict)]
    ScreeningDecision.objects.bulk_create(decisions, batch_size=5000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def status_timings() -> None:
    """Runs in a child process after the build: the whole-review status queries (PRISMA's counts, the
    tutor's conflicts, the settled verdicts a ranking trains on), median of 7, beside the floor of a
    plain count of the review's records."""
    import django

    django.setup()
    from studies import selectors
    from studies.models import Record, Review, Stage

    review = Review.objects.get(slug=SLUG)
    stage = Stage.TITLE_ABSTRACT

    def median_ms(call) -> float:
        times = []
        for _ in range(7):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    print(f"{'whole-review query':<34} {'median ms':>10} {'/floor':>8}")
    floor = None
    for label, call in (
            ("records of the review (floor)", lambda: Record.objects.filter(review=review).count()),
            ("PRISMA counts", lambda: selectors.prisma_counts(review, selectors.prisma_previous_version_at(review))),
            ("status counts (title/abstract)", lambda: selectors.stage_status_counts(review=review, stage=stage)),
            ("conflicts waiting", lambda: selectors.conflicts_waiting(review=review, stage=stage)),
            ("settled verdicts", lambda: selectors.settled_verdicts(review=review, stage=stage))):
        ms = median_ms(call)
        floor = floor or ms
        print(f"{label:<34} {ms:>10.1f} {ms / floor:>8.1f}")


class Screener:
    """One signed-in screener on one keep-alive connection."""

    def __init__(self, port: int, username: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}
        self.username = username

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, str, float]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = "http://127.0.0.1/"
        start = time.perf_counter()
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        elapsed = (time.perf_counter() - start) * 1000
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return response.status, text, elapsed

    def sign_in(self) -> None:
        _, page, _ = self.request("GET", "/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        status, answer, _ = self.request("POST", "/accounts/login/", {
            "csrfmiddlewaretoken": token, "username": self.username, "password": PASSWORD, "next": "/"})
        if status != 302 or "sessionid" not in self.cookies:
            errors = re.findall(r"<li>([^<]+)</li>", answer)
            raise RuntimeError(f"{self.username} could not sign in (HTTP {status}): {errors}")


def run_screeners(port: int, usernames: list[str], rounds: int, think: float = 0.0) -> dict:
    """Every screener: ``rounds`` × (GET next record, POST a decision, pause ``think`` seconds ± 50%,
    as a person reads the next abstract). Returns timings and what was acknowledged."""
    path = f"/reviews/{SLUG}/screening/title_abstract/"
    next_ms: list[float] = []
    decide_ms: list[float] = []
    acknowledged: dict[tuple[str, int], str] = {}
    refused = errors = 0
    lock = threading.Lock()
    screeners = [Screener(port, name) for name in usernames]
    for screener in screeners:
        screener.sign_in()
    barrier = threading.Barrier(len(screeners))

    def work(screener: Screener) -> None:
        nonlocal refused, errors
        mine_next, mine_decide, mine_ack, mine_refused, mine_errors = [], [], {}, 0, 0
        pause = random.Random(screener.username)
        barrier.wait()
        time.sleep(pause.uniform(0, think))  # screeners do not all start on the same millisecond
        for n in range(rounds):
            status, page, elapsed = screener.request("GET", path)
            mine_next.append(elapsed)
            found = re.search(r'name="record" value="(\d+)"', page)
            if status != 200 or found is None:
                mine_errors += 1
                continue
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
            record_id = int(found.group(1))
            verdict = ("include", "exclude", "unsure")[(record_id + n) % 3]
            status, _, elapsed = screener.request("POST", path, {
                "csrfmiddlewaretoken": token, "record": record_id, "decision": verdict})
            mine_decide.append(elapsed)
            if status == 302:
                mine_ack[(screener.username, record_id)] = verdict
            elif status == 400:  # two others decided it between my GET and my POST: correctly refused
                mine_refused += 1
            else:
                mine_errors += 1
            time.sleep(pause.uniform(0.5, 1.5) * think)
        screener.connection.close()
        with lock:
            next_ms.extend(mine_next)
            decide_ms.extend(mine_decide)
            acknowledged.update(mine_ack)
            refused += mine_refused
            errors += mine_errors

    started = time.perf_counter()
    with ThreadPoolExecutor(len(screeners)) as pool:
        for future in [pool.submit(work, s) for s in screeners]:
            future.result()
    return {"next": next_ms, "decide": decide_ms, "acknowledged": acknowledged, "refused": refused,
            "errors": errors, "elapsed": time.perf_counter() - started}


def audit(acknowledged: dict[tuple[str, int], str]) -> tuple[int, int, int]:
    """(lost, duplicated, wrong) decisions, read back from the database in a child process."""
    import json

    keys = [[user, record, verdict] for (user, record), verdict in acknowledged.items()]
    code = (
        "import django, json, sys; django.setup()\n"
        "from django.db.models import Count\n"
        "from studies.models import ScreeningDecision\n"
        "keys = json.load(sys.stdin)\n"
        f"rows = ScreeningDecision.objects.filter(record__review__slug={SLUG!r}, stage='title_abstract')\n"
        "stored = {(u, r): d for u, r, d in rows.values_list('screener__username', 'record_id', 'decision')}\n"
        "dups = rows.values('record', 'screener').annotate(n=Count('id')).filter(n__gt=1).count()\n"
        "lost = sum(1 for u, r, d in keys if (u, r) not in stored)\n"
        "wrong = sum(1 for u, r, d in keys if (u, r) in stored and stored[(u, r)] != d)\n"
        "print(json.dumps([lost, dups, wrong]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(keys), capture_output=True, text=True,
                         cwd=BASE_DIR, check=True, env=os.environ.copy())
    lost, dups, wrong = json.loads(out.stdout.strip().splitlines()[-1])
    return lost, dups, wrong


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def threaded_load(port: int, path: str, clients: int, requests: int) -> dict:
    """``requests`` GETs of ``path`` from ``clients`` threads on keep-alive connections: the floor,
    measured the way the screeners are (Python threads), so the two compare."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for _ in range(max(1, requests // clients)):
            start = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status}")
            mine.append((time.perf_counter() - start) * 1000)
        connection.close()
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    elapsed = time.perf_counter() - started
    return {"p50": statistics.median(latencies), "p95": percentile(latencies, 95),
            "rps": len(latencies) / elapsed, "n": len(latencies)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--screened", type=int, default=20_000)
    parser.add_argument("--screeners", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=60, help="records each screener decides")
    parser.add_argument("--think", type=float, default=1.0,
                        help="seconds a screener pauses between decisions (people take 10-30 s per abstract; "
                             "1 s is twenty screeners working ten times faster than anyone reads)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=embedded.free_port(8793))
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-screening-") as tmp:
        workdir = Path(tmp)
        database_url, cleanup = pages.prepare_database(workdir)
        env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="reviewsite.settings.local",
                   DJANGO_DEBUG="false", DJANGO_LOG_LEVEL="WARNING")
        os.environ.update({k: env[k] for k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_DEBUG")})
        try:
            started = time.perf_counter()
            subprocess.run([python, "-c", f"import sys; sys.path.insert(0, {str(BASE_DIR)!r}); "
                                          f"from bench.screening import build; "
                                          f"build({args.records}, {args.screened}, {args.screeners})"],
                           cwd=BASE_DIR, env=env, check=True)
            print(f"built a review of {args.records:,} records ({args.screened:,} already dual-screened) "
                  f"in {time.perf_counter() - started:.0f} s")
            subprocess.run([python, "-c", f"import sys; sys.path.insert(0, {str(BASE_DIR)!r}); "
                                          "from bench.screening import status_timings; status_timings()"],
                           cwd=BASE_DIR, env=env, check=True)
            with pages.gunicorn_serving(workdir, env, port=args.port, workers=args.workers):
                usernames = [f"bench-screener-{i}" for i in range(args.screeners)]
                threaded_load(args.port, "/healthz", args.workers * 4, args.workers * 8)  # warm the workers
                run_screeners(args.port, usernames[:2], 3)
                floor = threaded_load(args.port, "/healthz", args.screeners, args.screeners * args.rounds)
                result = run_screeners(args.port, usernames, args.rounds, args.think)
                # Capacity: the same screeners with no pause at all (a closed loop that saturates
                # the machine's cores; latency there is queueing, so it is reported, not targeted).
                saturated = run_screeners(args.port, usernames, max(5, args.rounds // 4), 0.0)
                acknowledged = {**result["acknowledged"], **saturated["acknowledged"]}
                lost, duplicated, wrong = audit(acknowledged)
                print(f"machine: {os.cpu_count()} cpus; gunicorn gthread ×{args.workers} workers × 8 threads, "
                      f"PostgreSQL; {args.screeners} concurrent screeners, {args.rounds} records each, "
                      f"{args.think:g} s between decisions")
                rows = [("/healthz (floor)", floor["p50"], floor["p95"], floor["n"]),
                        ("next record (GET)", statistics.median(result["next"]),
                         percentile(result["next"], 95), len(result["next"])),
                        ("record a decision (POST)", statistics.median(result["decide"]),
                         percentile(result["decide"], 95), len(result["decide"]))]
                print(f"{'':<28} {'p50 ms':>8} {'p95 ms':>8} {'n':>6} {'p95/floor':>10}")
                for label, p50, p95, n in rows:
                    print(f"{label:<28} {p50:>8.1f} {p95:>8.1f} {n:>6} {p95 / floor['p95']:>10.1f}")
                rate = len(saturated["decide"]) / saturated["elapsed"]
                print(f"saturated (no pause): {rate:.0f} decisions/s with next-record p50 "
                      f"{statistics.median(saturated['next']):.0f} ms, decision p50 "
                      f"{statistics.median(saturated['decide']):.0f} ms (queueing on {os.cpu_count()} cores)")
                errors = result["errors"] + saturated["errors"]
                print(f"decisions acknowledged: {len(acknowledged)}; refused because two others had decided "
                      f"first: {result['refused'] + saturated['refused']}; errors: {errors}")
                print(f"lost: {lost}; duplicated: {duplicated}; stored differently: {wrong}")
                next_p95, decide_p95 = rows[1][2], rows[2][2]
                met = next_p95 < 50 and decide_p95 < 100 and lost == duplicated == wrong == errors == 0
                print(f"targets: next record p95 < 50 ms ({next_p95:.1f}), decision p95 < 100 ms ({decide_p95:.1f}), "
                      f"zero lost or duplicated: {'met' if met else 'MISSED'}")
                return 0 if met else 1
        finally:
            for step in cleanup:
                step()


if __name__ == "__main__":
    raise SystemExit(main())
