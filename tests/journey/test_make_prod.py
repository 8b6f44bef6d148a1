"""`make prod`, the documented one command: migrate, collectstatic, seed, then web + worker + beat
from the Procfile under honcho; Ctrl-C stops all three gracefully."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess

import pytest
from cryptography.fernet import Fernet

from tests.journey.layout import (
    ROOT,
    Layout,
    free_port,
    journey_database_url,
    journey_redis_url,
    recreate_postgres_database,
)

REDIS_URL = journey_redis_url("make-prod")

pytestmark = pytest.mark.skipif(
    REDIS_URL is None,
    reason="`make prod` runs beat as its own process, which needs Redis (set REDIS_URL)",
)


def test_make_prod_starts_web_worker_and_beat(tmp_path):
    import redis

    database_url = journey_database_url(tmp_path, suffix="make_prod")
    if database_url.startswith("postgres"):
        recreate_postgres_database(database_url)
    redis.Redis.from_url(REDIS_URL).flushdb()  # its own Redis database: no stale queue or lock
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_DEBUG", "LOG_JSON", "HTTPS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "PORT": str(port),
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "VAULT_KEYS": Fernet.generate_key().decode(),
            "SANDBOX_BASE_URL": f"http://127.0.0.1:{port}",
            "WEB_CONCURRENCY": "1",
            "CELERY_CONCURRENCY": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    log_path = tmp_path / "make-prod.log"
    with open(log_path, "wb") as log:
        make = subprocess.Popen(
            ["make", "prod"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        layout = Layout(env=env, port=port, logs=tmp_path)
        try:
            layout.wait_until(
                lambda: make.poll() is None and layout.health()["checks"]["worker"] == "ok",
                what=f"make prod to serve with a live worker ({log_path.read_text()[-3000:]})",
                timeout=240,
            )
            health = layout.health()
            assert health["checks"] == {
                "database": "ok",
                "cache": "ok",
                "broker": "ok",
                "worker": "ok",
            }
            lock = redis.Redis.from_url(REDIS_URL).get("platform:celery-beat:lock")
            assert lock is not None, "beat runs behind its single-beat lock"
        finally:
            # Ctrl-C in a terminal: SIGINT to the whole foreground process group.
            os.killpg(make.pid, signal.SIGINT)
            try:
                make.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(make.pid, signal.SIGKILL)
                raise
    output = log_path.read_text(errors="replace")
    assert "Shutting down: Master" in output  # gunicorn drained and stopped
    assert "Warm shutdown" in output  # the worker finished its tasks and took no new ones
    assert "beat: holding the single-beat lock" in output
    # beat gave its lock back on the way out, so a new beat can start at once.
    assert redis.Redis.from_url(REDIS_URL).get("platform:celery-beat:lock") is None
