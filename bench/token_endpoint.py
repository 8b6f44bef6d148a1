"""Token endpoint throughput: the platform's client-secret hasher vs django-oauth-toolkit's default.

Runs the production server setup (gunicorn with ``gunicorn.conf.py``: several gthread workers,
``DJANGO_DEBUG=0``) against PostgreSQL, and measures requests per second for the client
credentials grant and the refresh grant, each with two clients in one run:

- ``fast``: the client secret hashed with ``client_secret_hmac_sha256`` (apps_registry/hashers.py),
- ``pbkdf2``: the same kind of secret hashed as django-oauth-toolkit does by default
  (Django's default password hasher, PBKDF2-SHA256 with 1,000,000 iterations).

Usage (PostgreSQL required; the database is created and migrated if needed)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helper_apps_bench \\
        .venv/bin/python bench/token_endpoint.py --duration 10 --concurrency 8

Optional: ``REDIS_URL`` (the cache), ``--workers`` (gunicorn processes). Rate limits are off for
the run. Prints one table; nothing is asserted. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROFILE = "identity.profile.read"
BACKGROUND = "agents.jobs.background"
PEOPLE = 200


def environment(database_url: str, port: int, workers: int) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-" + secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "VAULT_KEYS": Fernet.generate_key().decode(),
        "HTTPS": "0",
        "DATABASE_URL": database_url,
        "OAUTH_RATE_LIMIT_PER_CLIENT": "0",
        "OAUTH_RATE_LIMIT_PER_IP": "0",
        "LOG_LEVEL": "WARNING",
        "LOG_JSON": "1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
    }
    return env


def ensure_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def set_up(refresh_pool: int) -> dict:
    """Two apps (fast and pbkdf2 secrets), people with live grants, refresh tokens to spend."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model

    from apps_registry.models import App, OAuthClient
    from apps_registry.services import app_register
    from consent.models import Grant
    from identity.models import User

    call_command("migrate", verbosity=0)
    AccessToken = get_access_token_model()
    RefreshToken = get_refresh_token_model()
    owner, _ = User.objects.get_or_create(email="bench-developer@example.com")
    # Refresh tokens spread over many people, as in real use (each person's grant is one row).
    people = [
        User.objects.get_or_create(email=f"bench-person-{n}@example.com")[0] for n in range(PEOPLE)
    ]
    clients = {}
    for label in ("fast", "pbkdf2"):
        name = f"Bench {label}"
        App.objects.filter(name=name).delete()
        OAuthClient.objects.filter(name=name).delete()
        registration = app_register(
            owner=owner,
            name=name,
            redirect_uris=["https://bench.example.com/cb"],
            scopes={PROFILE: True, BACKGROUND: False},
            allow_client_credentials=True,
            may_request_background=True,
        )
        app, secret = registration.app, registration.client_secret
        if label == "pbkdf2":
            # What django-oauth-toolkit stores by default (CLIENT_SECRET_HASHER "default").
            app.client.client_secret = make_password(secret, hasher="pbkdf2_sha256")
            app.client.save(update_fields=["client_secret"])
        Grant.objects.bulk_create(
            Grant(user=person, app=app, scopes=[PROFILE, BACKGROUND]) for person in people
        )
        expires = timezone.now() + timedelta(hours=1)
        raw = [secrets.token_urlsafe(30) for _ in range(refresh_pool)]
        owners = [people[n % PEOPLE] for n in range(refresh_pool)]
        access = AccessToken.objects.bulk_create(
            AccessToken(
                user=person,
                application=app.client,
                token="",
                token_checksum=hashlib.sha256(secrets.token_urlsafe(30).encode()).hexdigest(),
                scope=f"{PROFILE} {BACKGROUND}",
                expires=expires,
            )
            for person in owners
        )
        RefreshToken.objects.bulk_create(
            RefreshToken(
                user=person,
                application=app.client,
                token="",
                token_checksum=hashlib.sha256(value.encode()).hexdigest(),
                access_token=token,
                token_family=uuid.uuid4(),
            )
            for value, token, person in zip(raw, access, owners, strict=True)
        )
        clients[label] = {
            "client_id": app.client.client_id,
            "secret": secret,
            "refresh_tokens": raw,
        }
        stored = OAuthClient.objects.get(pk=app.client.pk).client_secret
        print(f"{label}: client secret stored as {stored.split('$', 1)[0]}$...", flush=True)
    return clients


def wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def load(url: str, make_body, auth, *, duration: float, concurrency: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop_at = time.perf_counter() + duration

    def worker():
        session = requests.Session()
        while time.perf_counter() < stop_at:
            body = make_body()
            if body is None:
                return
            started = time.perf_counter()
            response = session.post(url, data=body, auth=auth, timeout=60)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ok = statuses.get(200, 0)
    return {
        "ok": ok,
        "statuses": statuses,
        "rps": ok / wall,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else 0,
        "p95_ms": (statistics.quantiles(latencies, n=20)[18] * 1000) if len(latencies) > 20 else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn worker processes")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--refresh-pool", type=int, default=8000, help="refresh tokens per client")
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("Set DATABASE_URL=postgres://... (the production setup is PostgreSQL).")
    workers = args.workers or min(os.cpu_count() * 2 + 1, 8)
    env = environment(database_url, args.port, workers)
    os.environ.update(env)
    ensure_database(database_url)
    clients = set_up(refresh_pool=args.refresh_pool)

    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py", "config.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(args.port)
        url = f"http://127.0.0.1:{args.port}/oauth/token/"
        # Warm every worker up (imports, connections) before measuring.
        for _ in range(workers * 4):
            requests.post(url, data={"grant_type": "client_credentials"}, timeout=30)
        results = []
        for grant in ("client_credentials", "refresh_token"):
            for label in ("fast", "pbkdf2"):
                client = clients[label]
                auth = (client["client_id"], client["secret"])
                if grant == "client_credentials":

                    def make_body():
                        return {"grant_type": "client_credentials", "scope": PROFILE}

                else:
                    tokens = iter(client["refresh_tokens"])
                    token_lock = threading.Lock()

                    def make_body(tokens=tokens, token_lock=token_lock):
                        with token_lock:
                            value = next(tokens, None)
                        if value is None:
                            return None
                        return {"grant_type": "refresh_token", "refresh_token": value}

                result = load(
                    url, make_body, auth, duration=args.duration, concurrency=args.concurrency
                )
                results.append((grant, label, result))
                print(
                    f"{grant:18} {label:7} {result['rps']:8.1f} req/s  "
                    f"p50 {result['p50_ms']:7.1f} ms  p95 {result['p95_ms']:7.1f} ms  "
                    f"statuses {result['statuses']}",
                    flush=True,
                )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    print()
    print(
        f"gunicorn workers={workers} threads={env.get('GUNICORN_THREADS', '4')}, "
        f"client threads={args.concurrency}, {args.duration:.0f} s per run, CPUs={os.cpu_count()}, "
        f"database={urlsplit(database_url).path.lstrip('/')}, cache={'redis' if env.get('REDIS_URL') else 'locmem'}"
    )
    print("| grant | secret hashing | requests/s | p50 ms | p95 ms |")
    print("| --- | --- | ---: | ---: | ---: |")
    for grant, label, result in results:
        hashing = "HMAC-SHA256 (platform)" if label == "fast" else "PBKDF2 1,000,000 (DOT default)"
        print(
            f"| {grant} | {hashing} | {result['rps']:.1f} | {result['p50_ms']:.1f} | "
            f"{result['p95_ms']:.1f} |"
        )


if __name__ == "__main__":
    main()
