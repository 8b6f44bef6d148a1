"""Refresh sweep throughput: provider tokens refreshed per second by the beat sweep.

Starts the production process layout against PostgreSQL and Redis: the web process (gunicorn with
``gunicorn.conf.py``, which also serves the sandbox provider) and one Celery worker with the
Procfile's default settings (``--concurrency=4``, prefork, prefetch 1, acks late). Creates N
sandbox connections whose tokens expire within the refresh margin, runs the sweep
(``connections.tasks.refresh_sweep``: one task per connection) and measures the time until every
connection holds a new token. Then the same with 10 x N connections.

Every refresh is a real OAuth refresh-token grant over HTTP to the sandbox (rotation included),
a row lock, the vault's encryption and an audit event.

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helper_conn_bench \\
    REDIS_URL=redis://127.0.0.1:6379/2 \\
        .venv/bin/python bench/refresh_sweep.py --connections 100 --factor 10

Prints one table; nothing is asserted. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def make_connections(n: int, user) -> list[int]:
    from django.utils import timezone

    from connections.models import Connection
    from connections.providers import sandbox_client_credentials
    from connections.sandbox.models import SandboxAccount
    from connections.sandbox.oauth import _issue

    account = SandboxAccount.objects.get(flavour="sandbox_github", uid="583231")
    client_id = sandbox_client_credentials("sandbox_github")[0]
    Connection.objects.filter(user=user).delete()
    soon = timezone.now() + timezone.timedelta(seconds=60)
    rows = []
    for i in range(n):
        issued = _issue(
            "sandbox_github", account, client_id, ["repo"], f"bench-{i}-{secrets.token_hex(4)}"
        )
        rows.append(
            Connection(
                user=user,
                provider="sandbox_github",
                provider_account_id=f"bench-{i}",
                login=f"bench-{i}",
                scopes=["repo"],
                access_token=issued["access_token"],
                refresh_token=issued["refresh_token"],
                token_expires_at=soon,
                token_key_id="bench",
            )
        )
    return [c.pk for c in Connection.objects.bulk_create(rows, batch_size=500)]


def run_sweep(ids: list[int], timeout: float) -> tuple[float, int, int]:
    from django.utils import timezone

    from connections.models import Connection
    from connections.tasks import refresh_sweep

    started = timezone.now()
    t0 = time.perf_counter()
    queued = refresh_sweep()
    assert queued == len(ids), f"sweep queued {queued}, expected {len(ids)}"
    done = 0
    while time.perf_counter() - t0 < timeout:
        done = Connection.objects.filter(pk__in=ids, last_refreshed_at__gte=started).count()
        if done == len(ids):
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    failed = Connection.objects.filter(pk__in=ids).exclude(status="active").count()
    failed += Connection.objects.filter(pk__in=ids, refresh_failures__gt=0).count()
    return elapsed, done, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    from cryptography.fernet import Fernet

    database_url = os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/helper_conn_bench"
    )
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/2")
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-" + secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "VAULT_KEYS": Fernet.generate_key().decode(),
        "HTTPS": "0",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SANDBOX_BASE_URL": f"http://127.0.0.1:{port}",
        "LOG_LEVEL": "WARNING",
        "LOG_JSON": "1",
        "PORT": str(port),
    }
    ensure_database(database_url)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from connections.demo import seed_sandbox
    from identity.models import User

    call_command("migrate", verbosity=0)
    seed_sandbox()
    user, _ = User.objects.get_or_create(email="bench-refresh@example.com")

    from config.celery import app as celery_app

    celery_app.control.purge()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "config.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--concurrency=4",
                "--loglevel=WARNING",
                f"--hostname=bench-{port}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        ),
    ]
    try:
        for _ in range(200):
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code < 500:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        while not celery_app.control.ping(timeout=1):
            time.sleep(0.2)
        # Warm-up (imports, connections): a small sweep that is not measured.
        run_sweep(make_connections(8, user), args.timeout)
        rows = []
        for n in (args.connections, args.connections * args.factor):
            ids = make_connections(n, user)
            elapsed, done, failed = run_sweep(ids, args.timeout)
            rows.append((n, done, failed, elapsed, done / elapsed))
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
        print(
            "web: gunicorn (gunicorn.conf.py defaults), worker: celery --concurrency=4, "
            f"CPUs: {os.cpu_count()}, load average after the run: {load}"
        )
        print(f"{'connections':>12} {'refreshed':>10} {'failed':>7} {'seconds':>9} {'tokens/s':>9}")
        for n, done, failed, elapsed, rate in rows:
            print(f"{n:>12} {done:>10} {failed:>7} {elapsed:>9.2f} {rate:>9.1f}")
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
