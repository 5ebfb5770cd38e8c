"""How fast do the public review pages serve many readers at once?

Serves the demo review and a large synthetic review (``--outcomes`` × ``--studies``, built by
``bench/living.py``'s ``build_large_review``) under gunicorn (DEBUG off) against PostgreSQL, with
results computed beforehand, and measures p50 / p95 latency and throughput of the review page at
``--readers`` concurrent keep-alive readers on loopback (wrk, Debian's C load generator, for
``--seconds`` per row; installed when missing and run as root). The peer measured in the same run is a
static file served by the same server (the floor: what the server costs without our view).

    .venv/bin/python bench/pages.py [--readers 50] [--seconds 10] [--outcomes 40] [--studies 200]

Target (issue 5): review page p95 under 150 ms on the demo review. Uses the machine's PostgreSQL at
127.0.0.1:5432 (database ``reviewsite_bench_pages``, recreated) or a private one.
"""
from __future__ import annotations

import argparse
from contextlib import contextmanager
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from reviewsite import embedded, gunicorn_conf  # noqa: E402  (no Django import at module level)

PASSWORD = "synthetic-demo-review"
DATABASE = "reviewsite_bench_pages"


def prepare_database(workdir: Path) -> tuple[str, list]:
    if embedded.port_answers("127.0.0.1", 5432):
        import psycopg

        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {DATABASE}")
        return f"postgres://postgres@127.0.0.1:5432/{DATABASE}", []
    server, url = embedded.start_private_postgres(workdir / "postgres")
    return url, [server.cleanup]


def build(outcomes: int, studies: int) -> None:
    """Runs in a child process: migrate, load the demo and the large review, compute both."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from analysis import services
    from bench.living import build_large_review
    from studies.models import Review
    from studies.services.demo import demo_review_load

    demo, _ = demo_review_load(password=PASSWORD)
    large = build_large_review(outcomes, studies)
    for review_id in (demo.pk, Review.objects.get(slug=large).pk):
        services.review_recompute(review_id)


# wrk reports percentiles in microseconds; this prints the ones we use as one parseable line.
WRK_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %f %f\\n", summary.requests, summary.duration,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, latency:percentile(50), latency:percentile(95)))
end
"""


def wrk_path() -> str:
    """wrk, the C load generator (Debian's package), installed when missing and we may."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing Debian's wrk (the load generator)...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        return shutil.which("wrk") or "wrk"
    raise SystemExit("bench/pages.py needs wrk: sudo apt-get install wrk")


def load(wrk: str, script: Path, port: int, path: str, readers: int, seconds: int) -> dict:
    """``readers`` keep-alive connections GETting ``path`` for ``seconds`` seconds, from wrk.

    wrk (C, two threads) rather than Python threads: a Python load generator on the same two cores
    spends more CPU per request than the server does, and its own queueing shows up as latency.
    """
    out = subprocess.run([wrk, "-t2", f"-c{readers}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script),
                          f"http://127.0.0.1:{port}{path}"], check=True, capture_output=True, text=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    requests, duration_us, errors, p50_us, p95_us = (float(x) for x in line.split()[1:])
    if errors:
        raise RuntimeError(f"{path}: {errors:.0f} failed requests (non-2xx or socket errors)\n{out}")
    return {"p50": p50_us / 1000, "p95": p95_us / 1000, "rps": requests / (duration_us / 1e6), "n": int(requests)}


GUNICORN_CONFIG = BASE_DIR / "reviewsite" / "gunicorn_conf.py"


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by process ``pid`` and its children (Linux's /proc)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_until_idle(server: subprocess.Popen, *, quiet: float = 0.5, limit: float = 60) -> None:
    """Wait until gunicorn (master and workers) has used almost no CPU for ``quiet`` seconds: its
    workers have loaded the app, and answers still being computed for a load that has ended (wrk
    stops waiting, the server does not) do not count against the next row."""
    deadline = time.monotonic() + limit
    before = cpu_seconds(server.pid)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        after = cpu_seconds(server.pid)
        if after - before < 0.02 * quiet:
            return
        before = after


@contextmanager
def gunicorn_serving(workdir: Path, env: dict, *, port: int, workers: int | None, worker_class: str | None = "gthread",
                     threads: int | None = 8):
    """gunicorn serving the project on ``port`` (DEBUG off, as in production) with the production
    image's configuration (reviewsite/gunicorn_conf.py, access log included) until the block ends;
    ``workers``, ``worker_class`` and ``threads`` replace its values unless None. Yields the server
    once every worker has loaded the app; its log is ``workdir/gunicorn.log``. Every benchmark that
    measures the web server starts it so."""
    log = (workdir / "gunicorn.log").open("wb")
    chosen = {"--workers": workers, "--worker-class": worker_class, "--threads": threads}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG), "--bind",
                               f"127.0.0.1:{port}", *(str(x) for flag, value in chosen.items() if value is not None
                                                      for x in (flag, value)),
                               "--env", "DJANGO_SETTINGS_MODULE=reviewsite.settings.local"],
                              cwd=BASE_DIR, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while not embedded.port_answers("127.0.0.1", port):
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"gunicorn did not start; see {workdir / 'gunicorn.log'}")
            time.sleep(0.1)
        wait_until_idle(server)
        yield server
    finally:
        server.terminate()
        server.wait(15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--outcomes", type=int, default=40)
    parser.add_argument("--studies", type=int, default=200)
    # As the production image runs it (reviewsite/gunicorn_conf.py: sync workers, one per processor
    # and one more).
    parser.add_argument("--workers", type=int, default=gunicorn_conf.workers)
    parser.add_argument("--worker-class", default=gunicorn_conf.worker_class, choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--port", type=int, default=embedded.free_port(8791))
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        workdir = Path(tmp)
        database_url, cleanup = prepare_database(workdir)
        env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="reviewsite.settings.local",
                   DJANGO_DEBUG="false", DJANGO_LOG_LEVEL="WARNING")
        try:
            started = time.perf_counter()
            subprocess.run([python, "-c", f"import sys; sys.path.insert(0, {str(BASE_DIR)!r}); "
                                          f"from bench.pages import build; build({args.outcomes}, {args.studies})"],
                           cwd=BASE_DIR, env=env, check=True)
            print(f"built and computed both reviews in {time.perf_counter() - started:.0f} s")
            # sync (the production image's worker) closes each connection after its answer; gthread
            # keeps them alive, each worker serving several at once.
            with gunicorn_serving(workdir, env, port=args.port, workers=args.workers,
                                  worker_class=args.worker_class, threads=args.threads):
                threads = f" × {args.threads} threads" if args.worker_class == "gthread" else ""
                print(f"machine: {os.cpu_count()} cpus; gunicorn {args.worker_class} ×{args.workers} workers{threads}, "
                      f"PostgreSQL; wrk: {args.readers} concurrent keep-alive readers, {args.seconds} s per row")
                rows = [("static file (floor)", "/static/analysis/site.css"),
                        ("review page: demo", "/reviews/peer-led-stigma-demo/"),
                        (f"review page: large {args.outcomes}×{args.studies}", "/reviews/large-synthetic/")]
                wrk = wrk_path()
                script = workdir / "report.lua"
                script.write_text(WRK_REPORT)
                # Warm every worker (imports, templates, its own page cache): a first render of the
                # large review's page takes seconds, and is not what readers wait for afterwards.
                for _, path in rows:
                    load(wrk, script, args.port, path, args.workers * 4, 8)
                results = {label: load(wrk, script, args.port, path, args.readers, args.seconds)
                           for label, path in rows}
                floor = results["static file (floor)"]
                print(f"{'':<34} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8} {'p95/floor':>10} {'rps floor/page':>15}")
                for label, r in results.items():
                    print(f"{label:<34} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['rps']:>8.0f} "
                          f"{r['p95'] / floor['p95']:>10.1f} {floor['rps'] / r['rps']:>15.1f}")
                demo = results["review page: demo"]
                verdict = "met" if demo["p95"] < 150 else "MISSED"
                print(f"target: demo review page p95 < 150 ms: {verdict} ({demo['p95']:.1f} ms)")
                return 0 if demo["p95"] < 150 else 1
        finally:
            for step in cleanup:
                step()


if __name__ == "__main__":
    raise SystemExit(main())
