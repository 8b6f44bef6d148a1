"""Where a single client's brokered-call latency goes: gunicorn against the same call in process.

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/latency_split.py \
        [--calls 2000] [--workers 5]

One client, call after call, the same requests interleaved: through the production layout's
gunicorn (HTTP, keep-alive) and through ``config.wsgi.application`` in this process (no server,
no socket to it), with the independent fake provider behind both. ``broker-nolimit`` is the
in-process call with the broker's rate limits off (their Redis round trip skipped), and
``api-404`` an API request that reaches no view (the server and middleware alone). Last, the
brokered call in process back to back, as ``bench/hotpath.py`` runs it. A call interleaved with
other processes' work runs "cold" (caches, a sleeping core woken at every wait), as the
harness's latency figure does; back to back it runs warm. Prints p50 and p99 in ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402 - the harness's processes, databases and client
from hotpath import wsgi_call  # noqa: E402

WARMUP = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--workers", default="5", help="WEB_CONCURRENCY of the platform")
    args = parser.parse_args()
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL")
    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        raise SystemExit("Set DATABASE_URL=postgres://... and REDIS_URL=redis://... (production).")

    procs = harness.Processes()
    db = f"{urlsplit(database_url).path.lstrip('/')}_split{os.getpid()}"
    try:
        fake_port = harness.start_fake(procs, 0)
        env = {
            **harness.platform_env(
                database_url=harness.recreate_database(database_url, db),
                redis_url=redis_url,
                fake_url=f"http://127.0.0.1:{fake_port}",
            ),
            "WEB_CONCURRENCY": args.workers,
        }
        os.environ.update(env)
        import django

        django.setup()
        import logging

        logging.disable(logging.WARNING)
        import world as worldmod
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connections

        settings.ALLOWED_HOSTS = ["*"]
        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        world = worldmod.platform_world(refresh_pool=0)
        connections.close_all()
        port = harness.free_port()
        harness.gunicorn(procs, env, port)
        from config.wsgi import application

        auth = {"Authorization": f"Bearer {world.token}"}
        repo = "/api/v1/github/repos/octo/hello"
        cases = {"broker": repo, "broker-nolimit": repo, "api-404": "/api/v1/no-such-route"}
        web, direct = harness.Client(port), harness.Client(fake_port)
        seen: dict[str, tuple[list, list]] = {name: ([], []) for name in [*cases, "direct"]}

        def timed(send) -> float:
            started = time.perf_counter()
            send()
            return (time.perf_counter() - started) * 1000

        limit = int(harness.UNREACHED_LIMIT)
        for i in range(WARMUP + args.calls):
            for name, path in cases.items():
                off = name == "broker-nolimit"  # in this process only: the server keeps them
                settings.BROKER_RATE_LIMIT_PER_APP = 0 if off else limit
                settings.BROKER_RATE_LIMIT_PER_GRANT = 0 if off else limit
                over_http = timed(lambda p=path: web.request("GET", p, auth))
                in_process = timed(lambda p=path: wsgi_call(application, "GET", p, auth, b""))
                if i >= WARMUP:
                    seen[name][0].append(over_http)
                    seen[name][1].append(in_process)
            provider = timed(lambda: direct.request("GET", "/repos/octo/hello", {}))
            if i >= WARMUP:
                seen["direct"][0].append(provider)
        settings.BROKER_RATE_LIMIT_PER_APP = settings.BROKER_RATE_LIMIT_PER_GRANT = limit
        warm = [timed(lambda: wsgi_call(application, "GET", repo, auth, b"")) for _ in range(
            WARMUP + args.calls)][WARMUP:]  # fmt: skip
        for name, (over_http, in_process) in seen.items():
            line = f"{name:15} gunicorn p50 {harness.pct(over_http, 50):.2f} p99 "
            line += f"{harness.pct(over_http, 99):.2f} ms"
            if in_process:
                line += (f" | in process p50 {harness.pct(in_process, 50):.2f} p99 "
                         f"{harness.pct(in_process, 99):.2f} ms")  # fmt: skip
            print(line.replace("gunicorn", "over HTTP") if name == "direct" else line)
        print(f"broker in process, back to back: p50 {harness.pct(warm, 50):.2f} p99 "
              f"{harness.pct(warm, 99):.2f} ms; load {harness.load_average()}")  # fmt: skip
    finally:
        procs.stop_all()
        from django.db import connections

        connections.close_all()
        harness.drop_database(database_url, db)


if __name__ == "__main__":
    main()
