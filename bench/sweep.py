"""The refresh sweep figure: N expiring GitHub connections refreshed by the production worker.

N connections whose tokens expire within the refresh margin are made (each with its own refresh
token, encrypted by the vault); a Celery worker with the Procfile's settings is started; the sweep
task (``connections.tasks.refresh_sweep``, what beat runs) is sent through Redis, and the clock
runs until every connection holds a new token. Exactly once is checked on both sides: the fake
provider saw N refreshes and no refresh token twice, and every connection was refreshed after the
start, is still active and has no failures. The baseline is the fake provider alone: N refresh
requests straight to it from the harness with the same concurrency the worker may use.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.request
from datetime import timedelta
from urllib.parse import urlencode

from load import Client

PYTHON_WORKER = "celery"


def make_connections(n: int) -> list[int]:
    from django.utils import timezone

    from connections.models import Connection
    from identity.models import User

    tag = secrets.token_hex(3)
    people = User.objects.bulk_create(
        User(email=f"sweep-{tag}-{i}@example.com") for i in range(max(1, n // 10))
    )
    soon = timezone.now() + timedelta(seconds=30)
    rows = [
        Connection(
            user=people[i % len(people)],
            provider="github",
            provider_account_id=f"sweep-{tag}-{i}",
            login=f"sweep{i}",
            scopes=["repo"],
            access_token="bench-access-" + secrets.token_hex(12),
            refresh_token=f"bench-refresh-{tag}-{i}-" + secrets.token_hex(8),
            token_expires_at=soon,
        )
        for i in range(n)
    ]
    for row in rows:  # bulk_create skips save(): set what save() would
        from connections import vault

        row.token_key_id = vault.current_key_id()
    return [c.pk for c in Connection.objects.bulk_create(rows, batch_size=1000)]


def fake_stats(fake_url: str) -> dict:
    with urllib.request.urlopen(f"{fake_url}/_stats", timeout=10) as r:
        return json.loads(r.read())


def fake_reset(fake_url: str) -> None:
    req = urllib.request.Request(f"{fake_url}/_reset", method="POST", data=b"")
    urllib.request.urlopen(req, timeout=10).read()


def fake_alone(port: int, n: int, concurrency: int) -> float:
    """N refresh grants straight to the fake, ``concurrency`` at a time: the floor."""
    tokens = [f"alone-{secrets.token_hex(8)}-{i}" for i in range(n)]
    lock = threading.Lock()

    def worker():
        client = Client(port)
        while True:
            with lock:
                if not tokens:
                    break
                value = tokens.pop()
            body = urlencode({"grant_type": "refresh_token", "refresh_token": value}).encode()
            client.request(
                "POST",
                "/login/oauth/access_token",
                {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                body,
            )
        client.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def run(ctx, n: int, report, *, timeout: float = 600) -> None:
    import sys

    from django.db import connections
    from django.utils import timezone

    from config.celery import app as celery_app
    from connections.models import Connection

    procs = ctx["procs"]
    env = ctx["env"]
    concurrency = int(env.get("CELERY_CONCURRENCY", "4"))
    Connection.objects.filter(provider="github", login__startswith="sweep").delete()
    ids = make_connections(n)
    connections.close_all()
    celery_app.control.purge()
    worker = procs.start(
        [sys.executable, "-m", PYTHON_WORKER, "-A", "config", "worker", "--loglevel=WARNING",
         f"--concurrency={concurrency}", f"--hostname=bench-sweep-{secrets.token_hex(3)}@%h"],
        env,
    )  # fmt: skip
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not celery_app.control.ping(timeout=0.5):
            time.sleep(0.5)
        fake_reset(ctx["fake_url"])
        servers, server_cpu = ctx["servers"], ctx["server_cpu"]
        servers["worker"] = (worker.pid, servers.get("platform", (0, None))[1])
        cpu0 = server_cpu("worker")
        started = timezone.now()
        t0 = time.perf_counter()
        celery_app.send_task("connections.tasks.refresh_sweep")
        done = 0
        while time.perf_counter() - t0 < timeout:
            done = Connection.objects.filter(pk__in=ids, last_refreshed_at__gte=started).count()
            if done == n:
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - t0
        worker_s, pg_s = ctx["cpu_delta"](cpu0, server_cpu("worker"))
        time.sleep(1)  # anything refreshed twice would show up now
        stats = fake_stats(ctx["fake_url"])
        failed = Connection.objects.filter(pk__in=ids).exclude(status="active").count()
        failed += Connection.objects.filter(pk__in=ids, refresh_failures__gt=0).count()
    finally:
        procs.stop(worker)
    alone = fake_alone(ctx["fake_port"], n, max(concurrency, ctx.get("sweep_threads", 16)))
    exactly_once = (
        done == n
        and failed == 0
        and stats.get("refreshes") == n
        and stats.get("refresh_tokens_reused") == 0
    )
    print(
        f"  sweep {n}: {done}/{n} refreshed in {elapsed:.1f} s ({done / elapsed:.0f}/s), "
        f"failed {failed}, fake saw {stats.get('refreshes')} refreshes, "
        f"{stats.get('refresh_tokens_reused')} reused, at most "
        f"{stats.get('max_token_requests_in_flight')} in flight; fake alone {alone:.1f} s\n"
        f"    CPU/refresh {1000 * worker_s / max(done, 1):.1f} ms (worker) + "
        f"PostgreSQL {1000 * pg_s / max(done, 1):.1f} ms"
    )
    budget = n * 60 / 10000
    report(f"refresh sweep, {n} connections", elapsed, "s", "fake provider alone", alone,
           f"< {budget:.0f} s, exactly once", elapsed < budget and exactly_once)  # fmt: skip
