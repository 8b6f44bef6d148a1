"""CPU per request of the platform's hot paths, in one process, through the real WSGI handler.

Where ``bench/harness.py --profile`` samples the production layout under load (wall time, GIL
waits included), this calls ``config.wsgi.application`` directly, one request after the other, and
measures CPU time only (``time.process_time``): the platform's own work per brokered call or token
request, without the server, the network hop to it or the other processes on the machine. The
provider is the independent fake (``bench/fakeprovider.py``) over real HTTP, PostgreSQL and Redis
as in production, ``DEBUG`` off::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/platform_perf \\
    REDIS_URL=redis://127.0.0.1:6379/7 \\
        .venv/bin/python bench/hotpath.py [--only broker,mcp,cc,refresh] [--calls 2000]
                                          [--profile broker] [--sort tottime]
                                          [--only broker,broker-uncached --interleave 10]

It creates and drops its own database (``<name>_hot<pid>``). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from harness import (  # noqa: E402
    Processes,
    drop_database,
    platform_env,
    recreate_database,
    start_fake,
)


def wsgi_call(app, method: str, path: str, headers: dict, body: bytes = b"") -> tuple[str, bytes]:
    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1:8000",
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE",) else f"HTTP_{key}"] = value
    status = []

    def start_response(s, h, exc_info=None):
        status.append(s)

    result = app(environ, start_response)
    try:
        out = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return status[0], out


def sweep_case(args) -> None:
    """The refresh sweep in this process, one thread (CPU per refresh), then profiled."""
    import sweep as sweepmod

    from connections.sweep import refresh_sweep_run

    def run(n: int, threads: int) -> tuple[float, float, dict]:
        sweepmod.make_connections(n)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        outcomes = refresh_sweep_run(threads=threads)
        return time.perf_counter() - wall0, time.process_time() - cpu0, dict(outcomes)

    run(20, 1)  # warm
    n = min(args.calls, 400)
    wall, cpu, outcomes = run(n, 1)
    print(f"sweep    {n} refreshes, 1 thread: CPU {1000 * cpu / n:.2f} ms/refresh, "
          f"wall {1000 * wall / n:.2f} ms/refresh {outcomes}", flush=True)  # fmt: skip
    wall, cpu, outcomes = run(n, 16)
    print(f"sweep    {n} refreshes, 16 threads: CPU {1000 * cpu / n:.2f} ms/refresh, "
          f"wall {1000 * wall / n:.2f} ms/refresh {outcomes}", flush=True)  # fmt: skip
    from connections.sweep import _refresh, claim_due_batch

    if args.queries:
        # In this thread (the pool's threads have their own database connections): one claimed
        # batch of 20, every statement of its refreshes, the claim's amortised over them.
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        sweepmod.make_connections(20)
        lease = "hotpath-queries" + "0" * 17
        with CaptureQueriesContext(connection) as captured:
            claimed = claim_due_batch(lease_id=lease, limit=20)
            claim_queries = len(captured.captured_queries)
            outcomes = [_refresh(item, lease) for item in claimed]
        per = (len(captured.captured_queries) - claim_queries) / len(claimed)
        print(f"sweep: {per:.2f} queries per refresh (+ {claim_queries} per claimed batch) "
              f"{outcomes[:3]}")  # fmt: skip
        first = captured.captured_queries[claim_queries : claim_queries + round(per)]
        for q in first:
            print(f"    {q['sql'][:160]}")
    if "sweep" in args.profile.split(","):
        import cProfile
        import pstats

        sweepmod.make_connections(200)
        claimed = claim_due_batch(lease_id="hotpath-profile" + "0" * 17, limit=200)
        profiler = cProfile.Profile(time.process_time)
        profiler.runcall(lambda: [_refresh(c, "hotpath-profile" + "0" * 17) for c in claimed])
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.lines)


def postgresql_cpu() -> float:
    """CPU seconds so far of the PostgreSQL backend serving this process's connection."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def interleave(names: list[str], call, args) -> None:
    """Alternate blocks of each case, so that a machine's slow minutes fall on all of them."""
    import statistics

    for name in names:
        for _ in range(args.warmup):
            call(name)
    seen = {name: ([], [], []) for name in names}
    for _ in range(args.interleave):
        for name in names:
            pg0 = postgresql_cpu()
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for _ in range(args.block):
                call(name)
            seen[name][0].append(1000 * (time.process_time() - cpu0) / args.block)
            seen[name][1].append(1000 * (time.perf_counter() - wall0) / args.block)
            seen[name][2].append(1000 * (postgresql_cpu() - pg0) / args.block)
    for name, (cpu, wall, pg) in seen.items():
        print(f"{name:16} {args.interleave} blocks of {args.block}: CPU median "
              f"{statistics.median(cpu):.2f} ms/call ({min(cpu):.2f}-{max(cpu):.2f}) + PostgreSQL "
              f"{statistics.median(pg):.2f}, wall median "
              f"{statistics.median(wall):.2f} ({min(wall):.2f}-{max(wall):.2f})", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="broker,mcp,cc,refresh")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--profile", default="", help="cProfile these (comma-separated)")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--lines", type=int, default=45)
    parser.add_argument(
        "--profile-out",
        default="",
        metavar="DIR",
        help="also save each --profile case's stats to DIR/<case>.prof",
    )
    parser.add_argument("--queries", action="store_true", help="print one call's SQL")
    parser.add_argument(
        "--interleave", type=int, default=0, metavar="ROUNDS",
        help="run the --only cases in alternating blocks of --block calls, ROUNDS times, and print "
             "each one's median (an A/B on a noisy machine: both see the same minutes)",
    )  # fmt: skip
    parser.add_argument("--block", type=int, default=100)
    args = parser.parse_args()
    only = args.only.split(",")
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        raise SystemExit("Set DATABASE_URL=postgres://... and REDIS_URL=redis://... (production).")
    base_name = urlsplit(database_url).path.lstrip("/")
    db = f"{base_name}_hot{os.getpid()}"
    procs = Processes()

    try:
        fake_url = f"http://127.0.0.1:{start_fake(procs, 0)}"
        os.environ.update(
            platform_env(
                database_url=recreate_database(database_url, db),
                redis_url=redis_url,
                fake_url=fake_url,
            )
        )
        import django

        django.setup()
        import logging

        logging.disable(logging.WARNING)
        import world as worldmod
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        world = worldmod.platform_world(refresh_pool=args.calls + 600 if "refresh" in only else 0)
        from config.wsgi import application

        auth = (
            "Basic "
            + base64.b64encode(f"{world.client_id}:{world.client_secret}".encode()).decode()
        )
        mcp_token = worldmod.person_token(world, resource=["http://127.0.0.1:8000/mcp"])
        mcp_body = json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
             "params": {"name": "github.repos.get", "arguments": {"owner": "octo", "repo": "hello"}}}
        ).encode()  # fmt: skip
        refresh_tokens = list(world.refresh_tokens)

        def refresh_request():
            body = urlencode({"grant_type": "refresh_token", "refresh_token": refresh_tokens.pop()})
            return ("POST", "/oauth/token/", {"Authorization": auth,
                    "Content-Type": "application/x-www-form-urlencoded"}, body.encode())  # fmt: skip

        cases = {
            "broker": lambda: ("GET", "/api/v1/github/repos/octo/hello",
                               {"Authorization": f"Bearer {world.token}"}, b""),
            "mcp": lambda: ("POST", "/mcp", {"Authorization": f"Bearer {mcp_token}",
                            "Content-Type": "application/json",
                            "Accept": "application/json, text/event-stream"}, mcp_body),
            "cc": lambda: ("POST", "/oauth/token/", {"Authorization": auth,
                           "Content-Type": "application/x-www-form-urlencoded"},
                           b"grant_type=client_credentials&scope=identity.profile.read"),
            "refresh": refresh_request,
        }  # fmt: skip
        # The brokered call with broker.factcache off: every call reads the token statement.
        cases["broker-uncached"] = cases["broker"]
        uncached = {"broker-uncached"}
        from broker import factcache

        cache_on = factcache.enabled

        def call(name):
            factcache.enabled = (lambda: False) if name in uncached else cache_on
            return wsgi_call(application, *cases[name]())

        if args.interleave:
            interleave(only, call, args)
            return
        if "sweep" in only:
            sweep_case(args)
        for name in only:
            if name == "sweep":
                continue
            make = cases[name]
            factcache.enabled = (lambda: False) if name in uncached else cache_on
            calls = args.calls if name != "refresh" else len(refresh_tokens) - 520
            for _ in range(args.warmup if name != "refresh" else 20):
                status, out = wsgi_call(application, *make())
                if not status.startswith("200") or b'"isError":true' in out:
                    raise SystemExit(f"{name}: {status} {out[:300]!r}")
            if args.queries:
                from django.db import connection
                from django.test.utils import CaptureQueriesContext

                with CaptureQueriesContext(connection) as captured:
                    wsgi_call(application, *make())
                print(f"{name}: {len(captured.captured_queries)} queries")
                for q in captured.captured_queries:
                    print(f"    {q['sql'][:160]}")
            pg0 = postgresql_cpu()
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for _ in range(calls):
                wsgi_call(application, *make())
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            # The backend's CPU is counted in clock ticks (10 ms): over 2,000 calls, 5 µs each.
            pg = postgresql_cpu() - pg0
            print(f"{name:8} {calls} calls: CPU {1000 * cpu / calls:.2f} ms/call + PostgreSQL "
                  f"{1000 * pg / calls:.2f}, wall {1000 * wall / calls:.2f} ms/call",
                  flush=True)  # fmt: skip
            if name in args.profile.split(","):
                import cProfile
                import pstats

                profiler = cProfile.Profile(time.process_time)
                n = min(500, calls)
                profiler.runcall(
                    lambda m=make, k=n: [wsgi_call(application, *m()) for _ in range(k)]
                )
                pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.lines)
                if args.profile_out:
                    profiler.dump_stats(os.path.join(args.profile_out, f"{name}.prof"))
    finally:
        procs.stop_all()
        from django.db import connections

        connections.close_all()
        drop_database(database_url, db)


if __name__ == "__main__":
    main()
