"""How fast do the API's big lists serve scripts at once?

p50 / p95 latency and throughput of the records list and the screening-decisions list, 1,000 items
per page, at ``--clients`` concurrent keep-alive clients sending a token (wrk), against gunicorn
(DEBUG off) and PostgreSQL. The peer measured in the same run is the cheapest authenticated API
answer of the same server (the analysis version, one small row): the floor of auth + DRF + one query.

    .venv/bin/python bench/api.py [--clients 20] [--seconds 10] [--records 5000]

Reuses bench/pages.py's database set-up, wrk and its report script.
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

from bench.pages import WRK_REPORT, gunicorn_serving, load, prepare_database, wrk_path  # noqa: E402
from reviewsite import embedded  # noqa: E402

SLUG = "bench-api"


def build(records: int) -> str:
    """Runs in a child process: migrate, a review with ``records`` records, two screeners' decisions on
    every record (bulk: the services' locking is not what is measured); returns the manager's token."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
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
    return Token.objects.create(user=manager).key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=embedded.free_port(8793))
    args = parser.parse_args()
    python = sys.executable
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
            with gunicorn_serving(workdir, env, port=args.port, workers=args.workers, threads=args.threads):
                script = workdir / "report.lua"
                # The token on every request (wrk's Lua: a header set once applies to all requests).
                script.write_text(f'wrk.headers["Authorization"] = "Token {token}"\n' + WRK_REPORT)
                wrk = wrk_path()
                base = f"/api/reviews/{SLUG}"
                rows = [("analysis version (floor)", f"{base}/analysis/version/"),
                        ("records, 1,000 per page", f"{base}/records/?page_size=1000"),
                        ("decisions, 1,000 per page", f"{base}/decisions/?page_size=1000")]
                print(f"machine: {os.cpu_count()} cpus; gunicorn gthread ×{args.workers} workers × {args.threads} "
                      f"threads, PostgreSQL; {args.records} records, {2 * args.records} decisions; wrk: "
                      f"{args.clients} concurrent clients with a token, {args.seconds} s per row")
                for _, path in rows:  # warm each worker
                    try:
                        load(wrk, script, args.port, path, args.workers * 2, 2)
                    except RuntimeError:
                        print((workdir / "gunicorn.log").read_text()[-3000:])
                        raise
                results = {label: load(wrk, script, args.port, path, args.clients, args.seconds)
                           for label, path in rows}
                floor = results["analysis version (floor)"]
                print(f"{'':<28} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8} {'items/s':>9} {'p95/floor':>10}")
                for label, r in results.items():
                    items = 1 if "floor" in label else min(1000, args.records * (2 if "decisions" in label else 1))
                    print(f"{label:<28} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['rps']:>8.1f} {r['rps'] * items:>9.0f} "
                          f"{r['p95'] / floor['p95']:>10.1f}")
                return 0
        finally:
            for step in cleanup:
                step()


if __name__ == "__main__":
    raise SystemExit(main())
