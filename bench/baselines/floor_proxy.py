"""The floor proxy: the bare proxy plus the waits a brokered call cannot do without, and no logic.

What the budgets are measured against is the bare proxy (``bare_proxy.py``): no database, no
cache, no audit. A brokered call must at least read its token from PostgreSQL, count its rate
limit in Redis and make its audit event durable before it answers. This proxy does exactly that
much I/O, each step the cheapest way the stack offers, and nothing else (no grant, no policy, no
vault, no hash chain), so the harness can show how much of the broker's cost is the stack's
floor and how much its own work:

1. the bearer token's row by its SHA-256 in one indexed ``SELECT``, through Django's connection
   with the platform's own database settings (``config.env_services``: its backend,
   ``CONN_MAX_AGE`` and health checks), the Redis count (``INCR``) sent before it and read
   after, as the broker overlaps them;
2. the provider read, as the bare proxy does it;
3. one ``INSERT`` of the call's event in autocommit: committed (the WAL flushed) before the
   answer, as the broker's audit append is.

``FLOOR_PROXY_STEPS`` (default ``select,count,insert``) leaves steps out, to see what each
costs; without ``select`` the token is checked against a constant, as the bare proxy does. It runs
under the platform's ``gunicorn.conf.py``; the harness creates its two tables (:data:`SCHEMA`) in
the benchmark's database::

    DJANGO_SETTINGS_MODULE=bench.baselines.floor_proxy FLOOR_PROXY_UPSTREAM=http://127.0.0.1:9000 \\
    DATABASE_URL=postgres://... REDIS_URL=redis://... \\
        gunicorn -c gunicorn.conf.py 'django.core.wsgi:get_wsgi_application()'
"""

from __future__ import annotations

import hashlib
import hmac
import os

import redis
import requests
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.urls import path
from requests.adapters import HTTPAdapter

from config.env_services import parse_database_url

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "floor-proxy-benchmark-only")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]
ROOT_URLCONF = __name__
DATABASES = {"default": parse_database_url(os.environ.get("DATABASE_URL"))[1]}
USE_TZ = True
LOGGING_CONFIG = None

UPSTREAM = os.environ.get("FLOOR_PROXY_UPSTREAM", "http://127.0.0.1:9000").rstrip("/")
ALL_STEPS = frozenset({"select", "count", "insert"})
STEPS = frozenset(os.environ.get("FLOOR_PROXY_STEPS", "select,count,insert").split(",")) - {""}
if STEPS - ALL_STEPS:
    raise ValueError(f"FLOOR_PROXY_STEPS: unknown steps {sorted(STEPS - ALL_STEPS)}")
TOKEN_CHECKSUM = os.environ.get("FLOOR_PROXY_TOKEN_CHECKSUM", "")
PROVIDER_TOKEN = os.environ.get("FLOOR_PROXY_PROVIDER_TOKEN", "bench-access-floor")

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS bench_floor_token "
    "(checksum char(64) PRIMARY KEY, person_id bigint NOT NULL, scope text NOT NULL);\n"
    "CREATE TABLE IF NOT EXISTS bench_floor_event (id bigserial PRIMARY KEY, "
    "occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(), person_id bigint NOT NULL, "
    "operation text NOT NULL, status integer NOT NULL)"
)
_TOKEN_SQL = "SELECT person_id, scope FROM bench_floor_token WHERE checksum = %s"
_EVENT_SQL = "INSERT INTO bench_floor_event (person_id, operation, status) VALUES (%s, %s, %s)"


def seed_token(cursor, token: str) -> None:
    """Create the tables and the one token the floor proxy accepts."""
    cursor.execute(SCHEMA)
    cursor.execute(
        "INSERT INTO bench_floor_token VALUES (%s, 1, 'services.github.repositories.read') "
        "ON CONFLICT DO NOTHING",
        [hashlib.sha256(token.encode()).hexdigest()],
    )


_session = requests.Session()
_session.trust_env = False
_session.mount("http://", HTTPAdapter(pool_connections=16, pool_maxsize=16, max_retries=0))
_redis = redis.ConnectionPool.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


def _unauthorized() -> JsonResponse:
    return JsonResponse({"error": {"code": "invalid_token", "message": "no"}}, status=401)


def repo(request, owner: str, name: str):
    scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return _unauthorized()
    checksum = hashlib.sha256(raw.strip().encode()).hexdigest()
    counter = _redis.get_connection() if "count" in STEPS else None
    try:
        if counter is not None:
            counter.send_command("INCR", f"floor:{checksum[:16]}")
        if "select" in STEPS:
            with connection.cursor() as cursor:
                cursor.execute(_TOKEN_SQL, [checksum])
                row = cursor.fetchone()
        else:
            row = (1, "") if hmac.compare_digest(checksum, TOKEN_CHECKSUM) else None
        if counter is not None:
            counter.read_response()
    except BaseException:
        if counter is not None:  # an unread answer must never reach the connection's next user
            counter.disconnect()
        raise
    finally:
        if counter is not None:
            _redis.release(counter)
    if row is None:
        return _unauthorized()
    response = _session.get(
        f"{UPSTREAM}/repos/{owner}/{name}",
        headers={"Authorization": f"Bearer {PROVIDER_TOKEN}", "Accept": "application/json"},
        timeout=(3, 10),
    )
    if "insert" in STEPS:
        with connection.cursor() as cursor:
            cursor.execute(_EVENT_SQL, [row[0], "github.repos.get", response.status_code])
    if response.status_code != 200:
        return JsonResponse({"error": {"code": "upstream", "message": "upstream"}}, status=502)
    return HttpResponse(
        b'{"data":' + response.content + b"}", content_type="application/json", status=200
    )


urlpatterns = [path("api/v1/github/repos/<str:owner>/<str:name>", repo)]
