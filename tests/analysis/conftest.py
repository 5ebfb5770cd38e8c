"""The real living stack for tests that need it: a test-owned Redis on its own port, the Celery app
pointed at it, and real Celery worker processes (with beat, for the reconciler) against the test
database. Used by the living-pipeline tests and the reader pages' browser test."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from urllib.parse import quote

from django.db import connection
import kombu.pools
import pytest
import redis

from reviewsite import embedded
from reviewsite.celery import app as celery_app

BASE_DIR = Path(__file__).resolve().parent.parent.parent


@dataclass
class OwnRedis:
    """A Redis server owned by one test, so stopping it disturbs nothing else."""

    directory: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process, _ = embedded.start_private_redis(self.directory, self.port)

    def stop(self) -> None:
        if self.process is not None:
            embedded.stop(self.process)
            self.process = None


@pytest.fixture
def test_redis(tmp_path):
    redis = OwnRedis(tmp_path / "redis", embedded.free_port(16500 + os.getpid() % 1000))
    redis.start()
    previous = celery_app.conf.broker_url
    use_broker(redis.url)
    yield redis
    redis.stop()
    use_broker(previous)


def use_broker(url: str) -> None:
    """Point this process's Celery app at another broker, dropping pooled connections (the
    producer pool holds the connection pool, so both are rebuilt on next use)."""
    celery_app.conf.broker_url = url
    kombu.pools.reset()  # kombu keeps connection and producer pools in global registries
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def database_url() -> str:
    """The test database, as the worker processes must reach it."""
    db = connection.settings_dict
    host = db["HOST"] or "127.0.0.1"
    host = quote(host, safe="") if host.startswith("/") else host
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{db['USER']}@{host}{port}/{db['NAME']}"


@dataclass
class Worker:
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "reviewsite", "worker", "--beat", "--loglevel", "INFO",
             "--concurrency", "2", "--without-mingle", "--without-gossip", "--pool", "prefork"],
            cwd=BASE_DIR, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the whole worker: main process, pool children and embedded beat."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None


@pytest.fixture
def worker_env(test_redis, tmp_path):
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="reviewsite.settings.test",
        DATABASE_URL=database_url(),
        REDIS_URL=test_redis.url,
        RECONCILE_INTERVAL_SECONDS="2",
        ANALYSIS_COALESCE_SECONDS="0.3",
        CELERY_BEAT_SCHEDULE_FILENAME=str(tmp_path / "beat-schedule"),
    )
    return env


@pytest.fixture
def worker(worker_env, tmp_path):
    running = Worker(worker_env, tmp_path / "worker.log")
    running.start()
    yield running
    running.stop()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_worker_idle(broker_url: str, timeout: float = 30) -> None:
    """Wait until no recompute is queued, reserved, scheduled or running. Each save rings the
    doorbell once, so a fixture's saves leave tasks behind the one that brought the results up
    to date; any of them still in the worker's hands computes the next edit, broker or not."""
    broker = redis.Redis.from_url(broker_url)

    def idle() -> bool:
        inspect = celery_app.control.inspect(timeout=1.0, limit=1)  # one worker: no need to wait out the timeout
        replies = [inspect.active(), inspect.reserved(), inspect.scheduled()]
        if any(not reply for reply in replies):  # no worker answered yet
            return False
        busy = any(tasks for reply in replies for tasks in reply.values())
        return not busy and broker.llen("celery") == 0 and broker.hlen("unacked") == 0

    try:
        wait_for(idle, timeout, "the worker to finish its queued tasks")
    finally:
        broker.close()

