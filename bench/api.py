"""How fast do the API's big lists serve scripts at once?

p50 / p95 latency and throughput of the records list and the screening-decisions list, 1,000 items
per page, at ``--clients`` concurrent keep-alive clients sending a token (wrk), against gunicorn
(DEBUG off) and PostgreSQL. The peer measured in the same run is the cheapest authenticated API
answer of the same server (the analysis version, one small row): the floor of auth + DRF + one query.

    .venv/bin/python bench/api.py [--clients 20] [--seconds 10] [--records 5000]

gunicorn runs as the production image runs it (reviewsite/gunicorn_conf.py: worker class, workers,
threads, keep-alive, access log); ``--workers``, ``--worker-class`` and ``--threads`` override it.
Each row is measured once the server is idle again (answers still being computed for the warm-up or
the previous row would otherwise count against it). Target: the floor's p95 under 50 ms.
Reuses bench/pages.py's database set-up, gunicorn start, wrk and its report script.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
import subprocess
import sys
import tempfile

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.pages import (  # noqa: E402
    WRK_REPORT, gunicorn_serving, load, prepare_database, wait_until_idle, wrk_path,
)
from reviewsite import embedded, gunicorn_conf  # noqa: E402

SLUG = "bench-api"


def build(records: int) -> str:
    """Runs in a child process: migrate, a review with ``records`` records, two screeners' decisions on
    every record (bulk: the services' locking is not what is measured); returns the manager's token."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from rest_framework.authtoken.models import Token

    call_command("migrate", verbosity=0)
    from studies.models import ImportBatch, Record, Role, ScreeningDecision, SearchSource
    from studies.services.reviews import membership_add, review_create

    users = get_user_model().objects
    manager, one, two = (users.create_user(name) for name in ("bench-manager", "bench-screener-1", "bench-screener-2"))
    review = review_create(title="API bench", slug=SLUG, created_by=manager)
    for user in (one, two):
        membership_add(review=review, user=user, role=Role.SCREENER)
    membership_add(review=review, user=manager, role=Role.TUTOR)
    source = SearchSource.objects.create(review=review, database="Embase", date_searched="2024-01-01")
    batch = ImportBatch.objects.create(review=review, source=source, file_name="x.ris", file_format="ris",
                                       sha256="0" * 64)
    rows = Record.objects.bulk_create([
        Record(review=review, import_batch=batch, title=f"Peer support trial {i}", abstract="An abstract. " * 40,
               authors=["Smith, A.", "Jones, B."], keywords=["stigma"], year=2000 + i % 24) for i in range(records)])
    ScreeningDecision.objects.bulk_create([
        ScreeningDecision(record=record, stage="title_abstract", screener=user, decision="include")
        for record in rows for user in (one, two)])
    token = Token.objects.create(user=manager).key
    with connection.cursor() as cursor:  # planner statistics now, not autovacuum during the first row
        cursor.execute("VACUUM ANALYZE")
    return token


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--records", type=int, default=5000)
    # None: as production runs it (reviewsite/gunicorn_conf.py).
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--worker-class", default=None, choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--port", type=int, default=embedded.free_port(8793))
    args = parser.parse_args()
    python = sys.executable
    started_load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        workdir = Path(tmp)
        database_url, cleanup = prepare_database(workdir)
        env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="reviewsite.settings.local",
                   DJANGO_DEBUG="false", DJANGO_LOG_LEVEL="WARNING")
        try:
            token = subprocess.run(
                [python, "-c", f"import sys; sys.path.insert(0, {str(BASE_DIR)!r}); "
                               f"from bench.api import build; print(build({args.records}))"],
                cwd=BASE_DIR, env=env, check=True, capture_output=True, text=True).stdout.split()[-1]
            workers = args.workers or gunicorn_conf.workers
            worker_class = args.worker_class or gunicorn_conf.worker_class
            threads = args.threads or gunicorn_conf.threads
            with gunicorn_serving(workdir, env, port=args.port, workers=workers, worker_class=worker_class,
                                  threads=threads) as server:
                script = workdir / "report.lua"
                # The token on every request (wrk's Lua: a header set once applies to all requests).
                script.write_text(f'wrk.headers["Authorization"] = "Token {token}"\n' + WRK_REPORT)
                wrk = wrk_path()
                base = f"/api/reviews/{SLUG}"
                rows = [("analysis version (floor)", f"{base}/analysis/version/"),
                        ("records, 1,000 per page", f"{base}/records/?page_size=1000"),
                        ("decisions, 1,000 per page", f"{base}/decisions/?page_size=1000")]
                threaded = f" × {threads} threads" if worker_class == "gthread" else ""
                print(f"machine: {os.cpu_count()} cpus; gunicorn {worker_class} ×{workers} workers{threaded}, "
                      f"PostgreSQL; {args.records} records, {2 * args.records} decisions; wrk: "
                      f"{args.clients} concurrent clients with a token, {args.seconds} s per row")
                for _, path in rows:  # warm each worker
                    try:
                        load(wrk, script, args.port, path, workers * 2, 2)
                    except RuntimeError:
                        print((workdir / "gunicorn.log").read_text()[-3000:])
                        raise
                results = {}
                for label, path in rows:
                    wait_until_idle(server)
                    results[label] = load(wrk, script, args.port, path, args.clients, args.seconds)
                floor = results["analysis version (floor)"]
                print(f"{'':<28} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8} {'items/s':>9} {'p95/floor':>10}")
                for label, r in results.items():
                    items = 1 if "floor" in label else min(1000, args.records * (2 if "decisions" in label else 1))
                    print(f"{label:<28} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['rps']:>8.1f} {r['rps'] * items:>9.0f} "
                          f"{r['p95'] / floor['p95']:>10.1f}")
                verdict = "met" if floor["p95"] < 50 else "MISSED"
                print(f"target: the floor's p95 < 50 ms: {verdict} ({floor['p95']:.1f} ms); load average before "
                      f"the run {started_load:.2f}, now {os.getloadavg()[0]:.2f} (this run's own is about 2-3)")
                return 0 if floor["p95"] < 50 else 1
        finally:
            for step in cleanup:
                step()


if __name__ == "__main__":
    raise SystemExit(main())
