"""How long after an edit do readers see results computed from it?

Starts the real stack — gunicorn (DEBUG off), a Celery worker, Celery beat, PostgreSQL and a
private Redis — logs into the admin as a manager, changes outcome data through the admin's own
HTTP change form, and measures the time from the admin's response until the analysis API reports
results computed from that change. p50 / p95 over ``--edits`` edits, on the demo review and on a
large synthetic review (``--outcomes`` × ``--studies``). The peer in the same run is the admin save
itself (the floor: a reader cannot see results before the save returns). Then a burst of
``--burst`` edits from ``--clients`` concurrent admin sessions: how many runs it caused, and
whether the final results equal a from-scratch computation.

    .venv/bin/python bench/living.py [--edits 50] [--burst 500] [--outcomes 40] [--studies 200]

Targets (issue 4): p95 under 1 s on the demo review, under 2 s on the large one; at most 5 runs
for the burst. Uses the machine's PostgreSQL at 127.0.0.1:5432 (database ``reviewsite_bench``,
recreated) or a private one, and always a private Redis.
"""
from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
import http.cookiejar
import json
import os
from pathlib import Path
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from reviewsite import embedded  # noqa: E402  (no Django import at module level)

PASSWORD = "synthetic-demo-review"


def prepare_environment(workdir: Path) -> tuple[dict[str, str], list]:
    """Database, Redis and settings for every process of the stack."""
    cleanup = []
    env = dict(os.environ)
    if embedded.port_answers("127.0.0.1", 5432):
        import psycopg

        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS reviewsite_bench WITH (FORCE)")
            conn.execute("CREATE DATABASE reviewsite_bench")
        env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/reviewsite_bench"
    else:
        server, env["DATABASE_URL"] = embedded.start_private_postgres(workdir / "postgres")
        cleanup.append(server.cleanup)
    redis_process, env["REDIS_URL"] = embedded.start_private_redis(workdir / "redis", embedded.free_port(16600))
    cleanup.append(lambda: embedded.stop(redis_process))
    env.update(
        DJANGO_SETTINGS_MODULE="reviewsite.settings.local",
        DJANGO_DEBUG="false",
        DJANGO_LOG_LEVEL="WARNING",
        CELERY_BEAT_SCHEDULE_FILENAME=str(workdir / "beat-schedule"),
    )
    return env, cleanup


def build_large_review(outcomes: int, studies: int) -> str:
    """A synthetic review of ``outcomes`` × ``studies`` with two arms each (runs in-process)."""
    from django.contrib.auth import get_user_model

    from studies.models import (
        Arm, ArmRole, CharacteristicField, Outcome, OutcomeData, OutcomeDomain, Role, Study, StudyCharacteristic,
        TimePoint,
    )
    from studies.services import entities_create, entity_save, membership_add, review_create

    rng = random.Random(2022)
    manager = get_user_model().objects.get(username="demo-manager")
    review = review_create(title=f"Large synthetic review ({outcomes} outcomes × {studies} studies)",
                           slug="large-synthetic", created_by=manager, is_public=True, is_synthetic=True)
    membership_add(review=review, user=manager, role=Role.MANAGER)
    time_point = TimePoint.objects.get(review=review, is_analysis_default=True)
    field = entity_save(instance=CharacteristicField(review=review, name="Intervention type", data_type="choice",
                                                     choices=["HOP", "non-HOP"], is_subgroup_variable=True))
    study_rows = entities_create(instances=[
        Study(review=review, label=f"Synthetic {i + 1:03d}", year=2000 + i % 22) for i in range(studies)
    ])
    entities_create(instances=[
        StudyCharacteristic(study=s, field=field, value_text="HOP" if i % 3 else "non-HOP")
        for i, s in enumerate(study_rows)
    ])
    arms = entities_create(instances=[
        Arm(study=s, role=role, label=role.label, randomised=60) for s in study_rows
        for role in (ArmRole.INTERVENTION, ArmRole.CONTROL)
    ])
    domain = entity_save(instance=OutcomeDomain(review=review, name="Outcomes"))
    outcome_rows = entities_create(instances=[
        Outcome(review=review, domain=domain, name=f"Outcome {j + 1:02d}", direction="lower", order=j)
        for j in range(outcomes)
    ])
    rows = []
    for outcome in outcome_rows:
        effect = rng.uniform(-0.5, 0.1)
        for arm in arms:
            shift = effect * 5 if arm.role == ArmRole.INTERVENTION else 0.0
            rows.append(OutcomeData(study_id=arm.study_id, outcome=outcome, time_point=time_point, arm=arm,
                                    n=rng.randint(20, 80), mean=round(rng.gauss(shift, 1.0), 2),
                                    sd=round(rng.uniform(3, 7), 2)))
    for start in range(0, len(rows), 5000):
        entities_create(instances=rows[start:start + 5000])
    return review.slug


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class AdminSession:
    """A manager's browser session: cookies, CSRF token, the admin's change form."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        # Saves are timed to the admin's own response (its redirect), not the page it redirects to.
        self.poster = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def csrf(self) -> str:
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def login(self, username: str) -> None:
        self.opener.open(f"{self.base}/admin/login/", timeout=30).read()
        body = urllib.parse.urlencode({"username": username, "password": PASSWORD, "next": "/admin/",
                                       "csrfmiddlewaretoken": self.csrf()}).encode()
        response = self.opener.open(urllib.request.Request(f"{self.base}/admin/login/", data=body,
                                                           headers={"Referer": f"{self.base}/admin/login/"}), timeout=30)
        if "/admin/login/" in response.geturl():
            raise SystemExit(f"Could not log in as {username}")

    def save_outcome_data(self, row: dict, mean: float) -> None:
        path = f"{self.base}/admin/studies/outcomedata/{row['id']}/change/"
        form = {key: ("" if value is None else str(value)) for key, value in row.items() if key != "id"}
        form.update(mean=f"{mean:.2f}", include_in_analysis="on", csrfmiddlewaretoken=self.csrf())
        request = urllib.request.Request(path, data=urllib.parse.urlencode(form).encode(), headers={"Referer": path})
        try:
            response = self.poster.open(request, timeout=60)
        except urllib.error.HTTPError as redirect:
            if redirect.code == 302:  # saved
                return
            raise
        # A 200 is the form shown again: the admin refused the edit.
        errors = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.read().decode())
        raise SystemExit(f"The admin refused the edit: {errors}")

    def versions(self, slug: str) -> dict:
        with self.opener.open(f"{self.base}/api/reviews/{slug}/analysis/version/", timeout=30) as response:
            return json.load(response)


def outcome_data_rows(slug: str) -> list[dict]:
    from studies.models import OutcomeData

    return list(OutcomeData.objects.filter(study__review__slug=slug).order_by("pk").values(
        "id", "study", "outcome", "time_point", "arm", "n", "mean", "sd", "events", "total", "value_type",
        "instrument", "provenance", "note")[:200])


def data_version(slug: str) -> int:
    from studies.models import Review

    return Review.objects.values_list("data_version", flat=True).get(slug=slug)


def wait_fresh(session: AdminSession, slug: str, version: int, timeout: float = 120) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if session.versions(slug)["computed_version"] >= version:
            return time.perf_counter()
        time.sleep(0.005)
    raise SystemExit(f"{slug}: results for version {version} did not arrive within {timeout}s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure_edits(session: AdminSession, slug: str, edits: int) -> dict:
    rows = outcome_data_rows(slug)
    wait_fresh(session, slug, data_version(slug))
    save_ms, fresh_ms = [], []
    for i in range(edits):
        row = rows[i % len(rows)]
        started = time.perf_counter()
        session.save_outcome_data(row, row["mean"] + 0.01 * (i + 1))
        saved = time.perf_counter()
        fresh = wait_fresh(session, slug, data_version(slug))
        save_ms.append((saved - started) * 1000)
        fresh_ms.append((fresh - saved) * 1000)
        time.sleep(0.5)  # a quiet period, so each edit starts from idle as a person's would
    return {"save_ms": save_ms, "fresh_ms": fresh_ms}


def measure_burst(base: str, slug: str, edits: int, clients: int) -> dict:
    from django.utils import timezone

    from analysis import services
    from analysis.models import AnalysisRun, OutcomeResult, ReviewAnalysisState, RunStatus

    sessions = []
    for _ in range(clients):
        session = AdminSession(base)
        session.login("demo-manager")
        sessions.append(session)
    rows = outcome_data_rows(slug)
    wait_fresh(sessions[0], slug, data_version(slug))
    since = timezone.now()
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda i: sessions[i % clients].save_outcome_data(rows[i % len(rows)], -1.0 - i / 1000),
                      range(edits)))
    burst_seconds = time.perf_counter() - started
    wait_fresh(sessions[0], slug, data_version(slug))
    settled = time.perf_counter() - started
    all_runs = AnalysisRun.objects.filter(review__slug=slug, started_at__gte=since)
    runs = all_runs.count()  # every computation the burst caused, kept or thrown away as stale
    stored_runs = all_runs.filter(status=RunStatus.SUCCEEDED).count()
    state = ReviewAnalysisState.objects.get(review__slug=slug)
    stored = {(r.outcome_id, r.subgroup_field_id, r.analysis_set): r for r in OutcomeResult.objects.filter(run=state.current_run)}
    fresh = services.review_results_compute(services.analysis_inputs_load(state.review_id))
    equal = len(fresh) == len(stored) and all(
        stored[(c.outcome_id, c.subgroup_field_id, c.analysis_set)].estimate == c.payload[c.payload["chosen_model"]]["estimate"]
        for c in fresh
    )
    return {"runs": runs, "stored_runs": stored_runs, "burst_seconds": burst_seconds, "settled_seconds": settled,
            "equal": equal}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--outcomes", type=int, default=40)
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--port", type=int, default=8811)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-living-"))
    env, cleanup = prepare_environment(workdir)
    processes: list[subprocess.Popen] = []
    try:
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("load_demo_review", "--allow-production", stdout=open(os.devnull, "w"))
        large = build_large_review(args.outcomes, args.studies)

        log = (workdir / "stack.log").open("ab")
        python = sys.executable
        processes += [
            subprocess.Popen([python, "-m", "gunicorn", "reviewsite.wsgi:application", "--bind",
                              f"127.0.0.1:{args.port}", "--workers", "3", "--env",
                              "DJANGO_SETTINGS_MODULE=reviewsite.settings.local"],
                             cwd=BASE_DIR, env=env, stdout=log, stderr=log),
            subprocess.Popen([python, "-m", "celery", "-A", "reviewsite", "worker", "--loglevel", "WARNING",
                              "--concurrency", "2"], cwd=BASE_DIR, env=env, stdout=log, stderr=log),
            subprocess.Popen([python, "-m", "celery", "-A", "reviewsite", "beat", "--loglevel", "WARNING"],
                             cwd=BASE_DIR, env=env, stdout=log, stderr=log),
        ]
        base = f"http://127.0.0.1:{args.port}"
        deadline = time.monotonic() + 60
        while not embedded.port_answers("127.0.0.1", args.port):
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start; see {workdir / 'stack.log'}")
            time.sleep(0.1)
        session = AdminSession(base)
        session.login("demo-manager")

        print(f"machine: {os.cpu_count()} cpus; stack: gunicorn ×3, Celery worker ×2 + beat, PostgreSQL, Redis; "
              f"coalescing window {os.environ.get('ANALYSIS_COALESCE_SECONDS', '0.4')} s")
        print(f"{'review':<34} {'edits':>5} {'save p50':>9} {'save p95':>9} {'fresh p50':>10} {'fresh p95':>10}"
              f" {'target':>7} {'fresh/save p95':>15}")
        targets = {"peer-led-stigma-demo": 1000.0, large: 2000.0}
        ok = True
        for slug, target in targets.items():
            result = measure_edits(session, slug, args.edits)
            save_p95, fresh_p95 = percentile(result["save_ms"], 0.95), percentile(result["fresh_ms"], 0.95)
            ok &= fresh_p95 < target
            print(f"{slug:<34} {args.edits:>5} {statistics.median(result['save_ms']):>7.0f}ms {save_p95:>7.0f}ms"
                  f" {statistics.median(result['fresh_ms']):>8.0f}ms {fresh_p95:>8.0f}ms {target:>5.0f}ms"
                  f" {fresh_p95 / save_p95:>14.1f}x")
        burst = measure_burst(base, "peer-led-stigma-demo", args.burst, args.clients)
        ok &= burst["runs"] <= 5 and burst["equal"]
        print(f"burst of {args.burst} admin edits from {args.clients} clients on the demo review: "
              f"{burst['burst_seconds']:.1f} s of edits, results current {burst['settled_seconds']:.1f} s after the "
              f"first; {burst['runs']} runs (target ≤ 5), of which {burst['stored_runs']} stored (the others were "
              f"stale by the time they finished and were thrown away); final results equal a from-scratch computation: "
              f"{burst['equal']}")
        print("all targets met" if ok else "some targets missed")
        return 0
    finally:
        for process in processes:
            embedded.stop(process)
        for step in reversed(cleanup):
            step()


if __name__ == "__main__":
    sys.exit(main())
