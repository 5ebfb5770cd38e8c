"""Project-level guarantees: migrations match the models, production settings pass Django's deploy
checks, and the embedded default really starts a private PostgreSQL and Redis from pip packages."""
import logging
import os
from pathlib import Path
import secrets
import subprocess
import sys

from django.core.management import call_command
import pgserver.postgres_server
import psycopg
import pytest
import redis

from reviewsite import embedded

BASE_DIR = Path(__file__).resolve().parent.parent


def test_migrations_match_the_models(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_production_settings_pass_the_deploy_checks():
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="reviewsite.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="reviews.example.org",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    env["DJANGO_SETTINGS_MODULE"] = "reviewsite.settings.production"
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "Set the environment variable DJANGO_SECRET_KEY" in result.stderr


@pytest.mark.slow
def test_embedded_services_start_private_postgresql_and_redis(tmp_path):
    server, database_url = embedded.start_private_postgres(tmp_path / "postgres")
    try:
        socket_dir = database_url.split("@", 1)[1].split("/", 1)[0].replace("%2F", "/")
        with psycopg.connect(host=socket_dir, user="postgres", dbname=embedded.DATABASE_NAME) as conn:
            assert conn.execute("SELECT 41 + 1").fetchone() == (42,)
    finally:
        server.cleanup()
        # pgserver logs again from its own exit hook, after pytest has closed the streams.
        logging.getLogger(pgserver.postgres_server._logger.name).disabled = True
    process, redis_url = embedded.start_private_redis(tmp_path / "redis", embedded.free_port(6391))
    try:
        client = redis.Redis.from_url(redis_url, socket_timeout=5)
        client.set("living", "review")
        assert client.get("living") == b"review"
    finally:
        embedded.stop(process)
    assert process.returncode is not None
