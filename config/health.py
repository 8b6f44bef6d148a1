"""``/healthz``: the state of the database, the cache/broker and the worker, for load balancers."""

from datetime import timedelta

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

WORKER_STALE_AFTER = timedelta(seconds=120)


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return "down"
    return "ok"


def _cache() -> str:
    try:
        cache.set("healthz", "1", 10)
        return "ok" if cache.get("healthz") == "1" else "down"
    except Exception:  # any backend error means "down" here, never a 500
        return "down"


def _broker() -> str:
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
    except Exception:  # kombu raises transport-specific errors
        return "down"
    return "ok"


def _worker() -> str:
    from identity.models import Heartbeat

    try:
        seen = Heartbeat.objects.filter(name="worker").values_list("seen_at", flat=True).first()
    except DatabaseError:
        return "unknown"
    if seen is None:
        return "never-seen"
    return "ok" if timezone.now() - seen < WORKER_STALE_AFTER else "stale"


@never_cache
def healthz(request):
    database = _database()
    checks = {
        "database": database,
        "cache": _cache(),
        "broker": _broker(),
        "worker": _worker() if database == "ok" else "unknown",
    }
    # Only the database is fatal: without a worker the site still serves people.
    status = 200 if database == "ok" else 503
    return JsonResponse(
        {"status": "ok" if status == 200 else "unavailable", "checks": checks}, status=status
    )
