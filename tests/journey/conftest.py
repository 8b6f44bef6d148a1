"""The production layout for the journey tests: one per test session, started on first use."""

from __future__ import annotations

import pytest

from tests.journey.layout import (
    Layout,
    free_port,
    journey_database_url,
    journey_redis_url,
    manage,
    production_environment,
    recreate_postgres_database,
)
from tests.journey.steps import ADMIN, ADMIN_TOTP_SECRET, PASSWORD


@pytest.fixture(scope="session")
def layout(tmp_path_factory):
    """gunicorn, worker and beat (the Procfile's lines) with production settings, on a database
    and a Redis database of their own, migrated, static files collected, demo seeded, plus a
    staff member with a known TOTP secret."""
    import redis

    redis_url = journey_redis_url()
    if redis_url is None:
        pytest.skip("the production layout needs Redis (set REDIS_URL)")
    tmp = tmp_path_factory.mktemp("journey")
    database_url = journey_database_url(tmp)
    if database_url.startswith("postgres"):
        recreate_postgres_database(database_url)
    redis.Redis.from_url(redis_url).flushdb()  # the journey's own Redis database
    port = free_port()
    env = production_environment(
        database_url=database_url,
        redis_url=redis_url,
        port=port,
        SANDBOX_BASE_URL=f"http://127.0.0.1:{port}",
        # Off by default in production (issue 12 item 10); the journey runs on the sandbox.
        SANDBOX_ENABLED="1",
    )
    manage(env, "migrate", "--no-input")
    manage(env, "collectstatic", "--no-input", "--verbosity", "0")
    manage(env, "seed_demo", "--allow-production")
    manage(
        env,
        "shell",
        "-c",
        "from allauth.account.models import EmailAddress; "
        "from allauth.mfa.totp.internal.auth import TOTP; from identity.models import User; "
        f"u = User.objects.create_superuser(email='{ADMIN}', password='{PASSWORD}'); "
        f"EmailAddress.objects.create(user=u, email='{ADMIN}', verified=True, primary=True); "
        f"TOTP.activate(u, '{ADMIN_TOTP_SECRET}')",
    )
    layout = Layout(env=env, port=port, logs=tmp)
    for name in ("web", "worker", "beat"):
        layout.start(name)
    layout.wait_for_web()
    yield layout
    layout.stop_all()
