"""Benchmark (not a test): the broker's added latency and its database queries per call.

The same read (``GET /repos/{owner}/{repo}``) is timed, in one run, directly against a local fake
GitHub on 127.0.0.1 and through the broker (``GET /api/v1/github/repos/{owner}/{repo}``: token,
grant, policy, vault, upstream call over HTTP, audit row, last-used updates). The broker is called
in-process through Django's WSGI handler, so the app-to-platform HTTP hop (which depends on the
web server in front) is not counted; the broker-to-provider hop is real HTTP in both columns.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helper_broker \\
        .venv/bin/python bench/broker_latency.py [--calls 2000]

It creates and destroys its own test database (``test_<name>``), never touching the named one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")  # development keys; DEBUG is turned off below
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("HTTPS", "0")


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="print where brokered time goes")
    parser.add_argument("--sort", default="cumulative", help="profile sort key")
    args = parser.parse_args()

    import django

    django.setup()
    import logging

    logging.disable(logging.WARNING)
    import requests
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    # DJANGO_DEBUG=1 above only supplies the development keys; the figure is production's, so
    # DEBUG is off at request time (no SQL kept per query, no debug cursor wrapper).
    settings.DEBUG = False
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        from django.test import Client
        from django.utils import timezone

        from connections import vault
        from tests.broker import fake_provider
        from tests.broker.conftest import make_world

        fake, server = fake_provider.start()
        settings.PROVIDER_URLS = {
            p: {"api": fake.url + path, "api_base": fake.url + path}
            for p, path in (("github", "/github"), ("slack", "/slack/api"), ("google", "/google"))
        }
        settings.BROKER_RATE_LIMIT_PER_APP = settings.BROKER_RATE_LIMIT_PER_GRANT = 0
        settings.PASSWORD_HASHERS = [
            "django.contrib.auth.hashers.MD5PasswordHasher",
            "apps_registry.hashers.ClientSecretHasher",
        ]
        client = Client()
        world = make_world(fake, client)
        for conn in world.connections.values():
            # A token the real vault considers valid for a while: no refresh during the run.
            type(conn).objects.filter(pk=conn.pk).update(
                token_expires_at=timezone.now() + timezone.timedelta(hours=2),
                token_key_id=vault.current_key_id(),
            )
        github_token = world.connections["github"].access_token
        token = world.token(lifetime=timezone.timedelta(hours=2))
        session = requests.Session()
        direct_url = f"{fake.url}/github/repos/octo/hello"
        headers = {"Authorization": f"Bearer {github_token}"}
        broker_headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

        def direct() -> float:
            start = time.perf_counter()
            r = session.get(direct_url, headers=headers, timeout=10)
            elapsed = time.perf_counter() - start
            assert r.status_code == 200, r.status_code
            return elapsed * 1000

        def brokered() -> float:
            start = time.perf_counter()
            r = client.get("/api/v1/github/repos/octo/hello", **broker_headers)
            elapsed = time.perf_counter() - start
            assert r.status_code == 200, (r.status_code, r.content)
            return elapsed * 1000

        def queries_per_call() -> int:
            with CaptureQueriesContext(connection) as ctx:
                brokered()
            return len(ctx.captured_queries)

        for _ in range(args.warmup):
            direct()
            brokered()
        queries_before = queries_per_call()
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile(time.process_time)  # CPU, not waiting
            profiler.runcall(lambda: [brokered() for _ in range(100)])
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(60)
            with CaptureQueriesContext(connection) as ctx:
                brokered()
            for q in ctx.captured_queries:
                print(q["time"], q["sql"][:150])
        d, b = [], []
        cpu_direct = cpu_broker = 0.0
        for _ in range(args.calls):  # interleaved, so both see the same machine state
            c0 = time.process_time()
            d.append(direct())
            c1 = time.process_time()
            b.append(brokered())
            cpu_direct += c1 - c0
            cpu_broker += time.process_time() - c1

        # Grow everything a call could scale with, then count queries again.
        for _ in range(50):
            make_world(fake, client)
        world.grant.resources = {
            **world.grant.resources,
            "services.github.repositories.read": [
                {"id": f"octo/r{i}", "label": ""} for i in range(1000)
            ]
            + [{"id": "octo/hello", "label": ""}],
        }
        world.grant.save()
        for _ in range(1000):
            brokered()
        queries_after = queries_per_call()

        from audit.models import AuditEvent

        print(f"database: {connection.vendor} ({old_name} -> {connection.settings_dict['NAME']})")
        print(f"calls: {args.calls} each, interleaved, after {args.warmup} warm-up calls")
        print(f"{'':>10} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
        for name, s in (("direct", d), ("broker", b)):
            print(
                f"{name:>10} {percentile(s, 50):8.2f} {percentile(s, 99):8.2f} "
                f"{statistics.fmean(s):8.2f}"
            )
        print(
            f"{'added':>10} {percentile(b, 50) - percentile(d, 50):8.2f} "
            f"{percentile(b, 99) - percentile(d, 99):8.2f} "
            f"{statistics.fmean(b) - statistics.fmean(d):8.2f}"
        )
        print(
            f"CPU per call (this process, fake provider included): direct "
            f"{cpu_direct / args.calls * 1000:.2f} ms, broker {cpu_broker / args.calls * 1000:.2f} ms"
            f", added {(cpu_broker - cpu_direct) / args.calls * 1000:.2f} ms"
        )
        print(
            f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
        )
        print(
            f"queries per brokered call: {queries_before} "
            f"(and {queries_after} after +50 grants, +1000 selected repositories, "
            f"{AuditEvent.objects.count()} audit rows)"
        )
        server.shutdown()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
