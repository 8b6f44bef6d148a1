"""The performance harness: every figure of docs/performance.md, each beside its baseline, in one run.

Starts the production layout (gunicorn with the platform's ``gunicorn.conf.py``, PostgreSQL,
Redis, a Celery worker for the refresh sweep) and, as separate processes, an independent fake
GitHub (``bench/fakeprovider.py``), the bare Django proxy (``bench/baselines/bare_proxy.py``) and
stock django-oauth-toolkit (``bench/baselines/stock_dot.py``), both under the same gunicorn
settings, and two floors: the bare proxy and stock DOT plus only the waits the platform cannot do
without (``bench/baselines/floor_proxy.py``, ``floor_dot.py``), printed with no budget of their
own. Platform and baseline are measured interleaved (call by call for latency, in alternating
windows for throughput), so both see the same machine. Each figure is printed with its baseline,
the ratio, its budget and the load average at the time::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/platform_perf \\
    REDIS_URL=redis://127.0.0.1:6379/7 \\
        .venv/bin/python bench/harness.py [--only broker,token,sweep,consent] [--quick]

It creates (and drops at the end) its own databases ``<name>_bench<pid>`` and ``<name>_stockdot<pid>``
next to the one named. Nothing is asserted: the figures are for people (docs/performance.md).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import psycopg

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from load import Client  # noqa: E402

PYTHON = sys.executable
# Far above what a run sends in a window: the limits count every request, and refuse none.
UNREACHED_LIMIT = "1000000000"
RESULTS: list[dict] = []


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def report(figure: str, value: float, unit: str, baseline: str, base_value, budget: str, ok):
    ratio = (value / base_value) if base_value else None
    row = {
        "figure": figure,
        "value": round(value, 3),
        "unit": unit,
        "baseline": baseline,
        "baseline_value": round(base_value, 3) if isinstance(base_value, float | int) else None,
        "ratio": round(ratio, 3) if ratio is not None else None,
        "budget": budget,
        "within": bool(ok),
        "load": load_average(),
    }
    RESULTS.append(row)
    ratio_text = f"{ratio:6.2f}x" if ratio is not None else "      -"
    base_text = f"{base_value:9.2f}" if isinstance(base_value, float | int) else f"{'-':>9}"
    print(
        f"{figure:52} {value:9.2f} {unit:7} | {baseline:24} {base_text} | {ratio_text} | "
        f"{budget:24} {'OK ' if ok else 'OVER'} | load {row['load']}",
        flush=True,
    )


def inform(figure: str, value: float, unit: str, baseline: str, base_value: float) -> None:
    """A figure printed beside the budgets' rows with no budget of its own (a floor's)."""
    ratio = value / base_value if base_value else None
    RESULTS.append({
        "figure": figure, "value": round(value, 3), "unit": unit, "baseline": baseline,
        "baseline_value": round(base_value, 3), "ratio": round(ratio, 3) if ratio else None,
        "budget": None, "within": None, "load": load_average(),
    })  # fmt: skip
    ratio_text = f"{ratio:6.2f}x" if ratio is not None else "      -"
    print(f"{figure:52} {value:9.2f} {unit:7} | {baseline:24} {base_value:9.2f} | {ratio_text} | "
          f"{'(no budget: the floor)':24}      | load {load_average()}", flush=True)  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(
                f"a server exited during start-up (port {port}): var/bench/servers.log"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on {port} after {timeout} s")


def admin_url(database_url: str) -> str:
    parts = urlsplit(database_url)
    return parts._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)


def recreate_database(database_url: str, name: str) -> str:
    with psycopg.connect(admin_url(database_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlsplit(database_url)._replace(path=f"/{name}").geturl()


def drop_database(database_url: str, name: str) -> None:
    with psycopg.connect(admin_url(database_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Processes:
    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, args, env, *, stdout=subprocess.DEVNULL) -> subprocess.Popen:
        log = ROOT / "var" / "bench" / "servers.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=log.open("a"),
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)


def gunicorn(procs: Processes, env: dict, port: int, app: str = "config.wsgi"):
    proc = procs.start(
        [PYTHON, "-m", "gunicorn", "-c", "gunicorn.conf.py", app], {**env, "PORT": str(port)}
    )
    wait_for(port, proc)
    return proc


def start_fake(procs: Processes, token_latency_ms: float) -> int:
    """The independent fake GitHub (``bench/fakeprovider.py``), started; its port."""
    fake = procs.start(
        [PYTHON, str(BENCH / "fakeprovider.py"), "--port", "0", "--repos", "1000",
         "--token-latency-ms", str(token_latency_ms)],
        os.environ.copy(),
        stdout=subprocess.PIPE,
    )  # fmt: skip
    return int(fake.stdout.readline().split()[1])


def platform_env(*, database_url: str, redis_url: str, fake_url: str) -> dict:
    """The platform's environment in production mode, against the fake provider."""
    from cryptography.fernet import Fernet

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-" + secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "VAULT_KEYS": Fernet.generate_key().decode(),
        "HTTPS": "0",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "GITHUB_API_URL": fake_url,
        "GITHUB_TOKEN_URL": f"{fake_url}/login/oauth/access_token",
        "GITHUB_CLIENT_ID": "bench-github-client",
        "GITHUB_CLIENT_SECRET": "bench-github-secret-" + secrets.token_hex(16),
        # The rate limits stay on, as in production, so their counting is measured; set out of
        # reach, so that no request of the load is refused.
        "OAUTH_RATE_LIMIT_PER_CLIENT": UNREACHED_LIMIT,
        "OAUTH_RATE_LIMIT_PER_IP": UNREACHED_LIMIT,
        "BROKER_RATE_LIMIT_PER_APP": UNREACHED_LIMIT,
        "BROKER_RATE_LIMIT_PER_GRANT": UNREACHED_LIMIT,
        # The per-process limit of calls to one provider (2 by default) would answer 503 to part
        # of the 16 clients: as many as a worker has threads, so the figure is the broker's work,
        # not the limiter's refusals.
        "BROKER_PROVIDER_CONCURRENCY": os.environ.get("GUNICORN_THREADS", "4"),
        "LOG_LEVEL": "WARNING",
        "LOG_JSON": "1",
    }


PROFILE: dict = {}
# name -> (server pid, its database name or None): whose CPU each load window is charged with.
SERVERS: dict[str, tuple[int, str | None]] = {}
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rpartition(")")[2].split()
    except OSError:
        return None


def server_cpu(name: str) -> tuple[float, dict]:
    """CPU seconds used so far by a server's process tree (its reaped workers included), and per
    PostgreSQL backend serving its database (Linux /proc; nothing elsewhere): see cpu_delta."""
    pid, db = SERVERS.get(name, (None, None))
    if pid is None or not os.path.isdir("/proc"):
        return 0.0, {}
    parents, web, pg = {}, 0.0, {}
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    stats = {p: _stat(p) for p in pids}
    for p, st in stats.items():
        if st:
            parents[p] = int(st[1])
    for p, st in stats.items():
        if not st:
            continue
        q, own = p, False
        while q > 1:
            if q == pid:
                own = True
                break
            q = parents.get(q, 0)
        if own:
            web += sum(int(x) for x in st[11:13]) + (
                sum(int(x) for x in st[13:15]) if p == pid else 0
            )
        elif db:
            try:
                with open(f"/proc/{p}/cmdline", "rb") as handle:
                    cmd = handle.read()
            except OSError:
                continue
            if cmd.startswith(b"postgres:") and f" {db} ".encode() in cmd:
                pg[p] = sum(int(x) for x in st[11:13]) / _TICK
    return web / _TICK, pg


def cpu_delta(before: tuple[float, dict], after: tuple[float, dict]) -> tuple[float, float]:
    """(server, PostgreSQL) CPU seconds between two server_cpu readings. A backend that exited
    in between (idle connections close after CONN_MAX_AGE) loses what it used since ``before``:
    the PostgreSQL figure is a lower bound."""
    pg = sum(max(0.0, used - before[1].get(p, 0.0)) for p, used in after[1].items())
    return after[0] - before[0], pg


def start_profile(name: str, seconds: float):
    """py-spy (``pip install -e '.[bench]'``) over the platform's gunicorn and its workers, as
    collapsed stacks in var/bench/profile-<name>.txt (``--profile``)."""
    master = PROFILE.get("platform_pid")
    if not master:
        return None
    out = ROOT / "var" / "bench" / f"profile-{name}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [str(Path(PYTHON).parent / "py-spy"), "record", "--subprocesses", "--pid", str(master),
         "--duration", str(int(seconds)), "--format", "raw", "--rate", "200", "--nonblocking",
         "--output", str(out), *(["--gil"] if PROFILE.get("gil") else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def load_windows(
    targets: dict, *, clients: int, duration: float, rounds: int, label: str = ""
) -> dict:
    """Alternate ``duration``-second windows of ``clients`` concurrent clients over each target;
    return requests/s (200s only) and latencies per target, summed over the rounds."""
    per_process = 4
    totals = {
        name: {"ok": 0, "seconds": 0.0, "lat": [], "statuses": {}, "cpu": 0.0, "pg": 0.0}
        for name in targets
    }
    for _ in range(rounds):
        for name, spec in targets.items():
            tokens = spec.pop("token_source", None)
            start_at = time.time() + 1.5  # after the client processes have started
            procs = []
            spy = None
            if PROFILE.get("platform_pid") and name in ("broker", "platform"):
                spy = start_profile(f"{label}-{name}", duration + 1)
            n_proc = max(1, clients // per_process)
            for _ in range(n_proc):
                s = {
                    **spec,
                    "threads": per_process if clients >= per_process else clients,
                    "duration": duration,
                    "start_at": start_at,
                }
                if tokens is not None:
                    share = spec.setdefault("token_share", len(tokens) // (rounds * n_proc))
                    s.pop("token_share", None)
                    s["tokens"] = [tokens.pop() for _ in range(min(len(tokens), share))]
                proc = subprocess.Popen(
                    [PYTHON, str(BENCH / "load.py")],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                proc.stdin.write(json.dumps(s))
                proc.stdin.close()
                procs.append(proc)
            if tokens is not None:
                spec["token_source"] = tokens
            cpu0 = server_cpu(name)
            if spy is not None:
                spy.wait()
            for p in procs:
                out = p.stdout.read()
                p.wait()
                r = json.loads(out)
                t = totals[name]
                t["ok"] += r["ok"]
                t["lat"] += r["latencies_ms"]
                for k, v in r["statuses"].items():
                    t["statuses"][k] = t["statuses"].get(k, 0) + v
            web_s, pg_s = cpu_delta(cpu0, server_cpu(name))
            t["cpu"] += web_s
            t["pg"] += pg_s
            t["seconds"] += max(json.loads(out)["seconds"], duration)
    for t in totals.values():
        t["rps"] = t["ok"] / t["seconds"] if t["seconds"] else 0.0
        done = sum(t["statuses"].values()) or 1
        t["cpu_ms"] = 1000 * t["cpu"] / done
        t["pg_ms"] = 1000 * t["pg"] / done
    return totals


def print_windows(title: str, t: dict, labels: dict[str, str]) -> None:
    """Each side's rate, statuses and p50, then its CPU per request (``labels``: name -> label)."""
    print(f"  {title}: " + "; ".join(
        f"{label} {t[name]['rps']:.0f}/s {t[name]['statuses']} p50 {pct(t[name]['lat'], 50):.1f} ms"
        for name, label in labels.items()
    ) + "\n    " + "; ".join(f"{label} {cpu_text(t[name])}" for name, label in labels.items()))  # fmt: skip


TOKEN_SIDES = {"platform": "platform", "stock": "stock DOT", "floor_dot": "floor DOT"}


def cpu_text(t: dict) -> str:
    """CPU per request of the server (all its processes) and of its PostgreSQL backends."""
    return f"CPU/request {t['cpu_ms']:.1f} ms + PostgreSQL {t['pg_ms']:.1f} ms"


# --- the figures -------------------------------------------------------------------------------


def bench_broker(ctx, args) -> None:
    world, fake_port, platform = ctx["world"], ctx["fake_port"], ctx["platform"]
    bare, floor = ctx["bare"], ctx["floor"]
    path = "/api/v1/github/repos/octo/hello"
    callers = {
        "direct": (Client(fake_port), "/repos/octo/hello", {"Authorization": "Bearer bench-x"}),
        "bare": (Client(bare), path, {"Authorization": f"Bearer {ctx['bare_token']}"}),
        "floor": (Client(floor), path, {"Authorization": f"Bearer {ctx['floor_token']}"}),
        "broker": (Client(platform), path, {"Authorization": f"Bearer {world.token}"}),
    }
    samples: dict[str, list[float]] = {name: [] for name in callers}
    for i in range(args.warmup + args.calls):  # interleaved call by call
        for name, (client, p, headers) in callers.items():
            t0 = time.perf_counter()
            status, body = client.request("GET", p, headers)
            elapsed = (time.perf_counter() - t0) * 1000
            if status != 200:
                raise SystemExit(f"{name} answered {status}: {body[:300]!r}")
            if i >= args.warmup:
                samples[name].append(elapsed)
    d, b, f, k = samples["direct"], samples["bare"], samples["floor"], samples["broker"]
    added50, added99 = pct(k, 50) - pct(d, 50), pct(k, 99) - pct(d, 99)
    bare50, bare99 = pct(b, 50) - pct(d, 50), pct(b, 99) - pct(d, 99)
    floor50, floor99 = pct(f, 50) - pct(d, 50), pct(f, 99) - pct(d, 99)
    print(
        f"  one client, {args.calls} calls each, interleaved: direct p50 {pct(d, 50):.2f} / p99 "
        f"{pct(d, 99):.2f} ms; bare proxy {pct(b, 50):.2f} / {pct(b, 99):.2f}; floor proxy "
        f"{pct(f, 50):.2f} / {pct(f, 99):.2f}; broker {pct(k, 50):.2f} / {pct(k, 99):.2f}"
    )
    report("broker added latency p50 (vs direct)", added50, "ms", "bare proxy added", bare50,
           "<= 2.5 ms", added50 <= 2.5)  # fmt: skip
    inform("  floor proxy added latency p50", floor50, "ms", "bare proxy added", bare50)
    report("broker added latency p99 (vs direct)", added99, "ms", "bare proxy added", bare99,
           "<= 8 ms", added99 <= 8)  # fmt: skip
    inform("  floor proxy added latency p99", floor99, "ms", "bare proxy added", bare99)
    for client, _, _ in callers.values():
        client.close()

    targets = {
        "bare": {"port": bare, "method": "GET", "path": path,
                 "headers": {"Authorization": f"Bearer {ctx['bare_token']}"}},
        "floor": {"port": floor, "method": "GET", "path": path,
                  "headers": {"Authorization": f"Bearer {ctx['floor_token']}"}},
        "broker": {"port": platform, "method": "GET", "path": path,
                   "headers": {"Authorization": f"Bearer {world.token}"}},
    }  # fmt: skip
    t = load_windows(targets, clients=16, duration=args.window, rounds=args.rounds, label="broker")
    print_windows("16 clients", t, {"bare": "bare", "floor": "floor", "broker": "broker"})
    share = t["broker"]["rps"] / t["bare"]["rps"] if t["bare"]["rps"] else 0
    report("broker throughput, 16 clients", t["broker"]["rps"], "req/s", "bare proxy req/s",
           t["bare"]["rps"], ">= 60% of bare", share >= 0.6)  # fmt: skip
    inform("  floor proxy throughput, 16 clients", t["floor"]["rps"], "req/s", "bare proxy req/s",
           t["bare"]["rps"])  # fmt: skip


def bench_token(ctx, args) -> None:
    world, dot = ctx["world"], ctx["dot"]
    auth = "Basic " + base64.b64encode(f"{world.client_id}:{world.client_secret}".encode()).decode()
    dot_cc = dot["cc"]
    dot_auth = (
        "Basic " + base64.b64encode(f"{dot_cc['client_id']}:{dot_cc['secret']}".encode()).decode()
    )
    targets = {
        "stock": {"port": ctx["stock"], "method": "POST", "path": "/o/token/",
                  "headers": {"Authorization": dot_auth},
                  "form": {"grant_type": "client_credentials"}},
        "floor_dot": {"port": ctx["floor_dot"], "method": "POST", "path": "/o/token/",
                  "headers": {"Authorization": dot_auth},
                  "form": {"grant_type": "client_credentials"}},
        "platform": {"port": ctx["platform"], "method": "POST", "path": "/oauth/token/",
                     "headers": {"Authorization": auth},
                     "form": {"grant_type": "client_credentials",
                              "scope": "identity.profile.read"}},
    }  # fmt: skip
    t = load_windows(targets, clients=16, duration=args.window, rounds=args.rounds, label="cc")
    print_windows("client credentials, 16 clients", t, TOKEN_SIDES)
    p, s = t["platform"], t["stock"]
    report("token endpoint client credentials, 16 clients", p["rps"], "req/s",
           "stock DOT (fast hash)", s["rps"], ">= 600/s, >= stock",
           p["rps"] >= 600 and p["rps"] >= s["rps"])  # fmt: skip
    inform("  floor DOT client credentials", t["floor_dot"]["rps"], "req/s", "stock DOT (fast hash)",
           s["rps"])  # fmt: skip

    dot_rf = dot["refresh"]
    dot_rauth = (
        "Basic " + base64.b64encode(f"{dot_rf['client_id']}:{dot_rf['secret']}".encode()).decode()
    )
    stock_tokens = list(dot_rf["refresh_tokens"])  # stock DOT and the floor share its database
    targets = {
        "stock": {"port": ctx["stock"], "method": "POST", "path": "/o/token/",
                  "headers": {"Authorization": dot_rauth},
                  "form": {"grant_type": "refresh_token"},
                  "token_source": stock_tokens[::2]},
        "floor_dot": {"port": ctx["floor_dot"], "method": "POST", "path": "/o/token/",
                  "headers": {"Authorization": dot_rauth},
                  "form": {"grant_type": "refresh_token"},
                  "token_source": stock_tokens[1::2]},
        "platform": {"port": ctx["platform"], "method": "POST", "path": "/oauth/token/",
                     "headers": {"Authorization": auth}, "form": {"grant_type": "refresh_token"},
                     "token_source": list(world.refresh_tokens)},
    }  # fmt: skip
    t = load_windows(targets, clients=16, duration=args.window, rounds=args.rounds, label="refresh")
    print_windows("refresh grant, 16 clients", t, TOKEN_SIDES)
    p, s = t["platform"], t["stock"]
    report("token endpoint refresh grant, 16 clients", p["rps"], "req/s", "stock DOT (fast hash)",
           s["rps"], ">= 300/s", p["rps"] >= 300)  # fmt: skip
    inform("  floor DOT refresh grant", t["floor_dot"]["rps"], "req/s", "stock DOT (fast hash)",
           s["rps"])  # fmt: skip


def bench_queries(ctx, args) -> None:
    """Queries per brokered call on a cache miss, before and after the data grows (in-process,
    Django's test client against the same database; the figure is a count, not a time)."""
    import world as worldmod
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    client = DjangoClient()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {ctx['world'].token}"}

    def calls(n: int) -> list[int]:
        counts = []
        for _ in range(n):
            with CaptureQueriesContext(connection) as q:
                r = client.get("/api/v1/github/repos/octo/hello", **headers)
            assert r.status_code == 200, r.content
            counts.append(len(q.captured_queries))
        return counts

    def count() -> tuple[int, int, int]:
        from django.utils import timezone

        from consent.models import Grant

        client.get("/api/v1/github/repos/octo/hello", **headers)  # warm the process
        _clear_local_caches()
        miss, hit = calls(2)
        # Any write to the grant's row (here "last used", as a call a minute later makes): the
        # next call finds the cached row's version changed and reads it again.
        Grant.objects.filter(pk=ctx["world"].grant_id).update(last_used_at=timezone.now())
        (changed,) = calls(1)
        return miss, hit, changed

    before, hit_before, changed_before = count()
    worldmod.grow(ctx["world"], people=50, repos=1000, audit_rows=1000)
    after, hit_after, changed_after = count()
    print(f"  queries per call: cache miss {before} -> {after} after growth; "
          f"cache hit {hit_before} -> {hit_after}; "
          f"the call after a change to its grant {changed_before} -> {changed_after}")  # fmt: skip
    report("SQL queries per brokered call, cache miss", before, "queries", "after growth", after,
           "<= 2, constant", before <= 2 and after == before)  # fmt: skip


def _clear_local_caches() -> None:
    from broker import factcache

    factcache.clear_local()


def bench_revocation(ctx, args) -> None:
    """Revoke the grant while the platform's workers have its facts cached: the very next call,
    on every connection (so on several workers), must be refused."""
    import world as worldmod

    from consent.models import Grant
    from consent.services import grant_revoke
    from identity.models import User

    world = ctx["world"]
    tries, refused_next = 10, 0
    clients = [Client(ctx["platform"]) for _ in range(8)]
    path = "/api/v1/github/repos/octo/hello"
    person = User.objects.get(pk=world.person_id)
    for _ in range(tries):
        headers = {"Authorization": f"Bearer {worldmod.person_token(world)}"}
        for _ in range(3):  # learn, store, hit: every connection's worker has it cached
            for c in clients:
                status, body = c.request("GET", path, headers)
                assert status == 200, (status, body[:200])
        grant_revoke(grant=Grant.objects.get(pk=world.grant_id), actor=person, reason="bench")
        statuses = [c.request("GET", path, headers)[0] for c in clients]
        refused_next += all(s in (401, 403) for s in statuses)
        Grant.objects.filter(pk=world.grant_id).update(revoked_at=None, revoke_reason="")
    for c in clients:
        c.close()
    report("revocation: next call refused (8 connections)", refused_next, "of",
           "revocations", tries, "all", refused_next == tries)  # fmt: skip


def bench_mcp(ctx, args) -> None:
    """The same read as a REST call and as an MCP ``tools/call`` (JSON-RPC over the stateless
    streamable HTTP transport), interleaved call by call, each with a token of its audience."""
    import world as worldmod

    world, port = ctx["world"], ctx["platform"]
    rest_token = worldmod.person_token(world)
    mcp_token = worldmod.person_token(world, resource=[f"http://127.0.0.1:{port}/mcp"])
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
         "params": {"name": "github.repos.get", "arguments": {"owner": "octo", "repo": "hello"}}}
    ).encode()  # fmt: skip
    rest, mcp = Client(port), Client(port)
    rest_headers = {"Authorization": f"Bearer {rest_token}"}
    mcp_headers = {"Authorization": f"Bearer {mcp_token}", "Content-Type": "application/json",
                   "Accept": "application/json, text/event-stream"}  # fmt: skip
    r_times, m_times = [], []
    for i in range(args.warmup + args.calls):
        t0 = time.perf_counter()
        status, answer = rest.request("GET", "/api/v1/github/repos/octo/hello", rest_headers)
        t1 = time.perf_counter()
        m_status, m_answer = mcp.request("POST", "/mcp", mcp_headers, body)
        t2 = time.perf_counter()
        if status != 200 or m_status != 200 or b'"isError":true' in m_answer:
            raise SystemExit(f"REST {status} {answer[:200]!r}; MCP {m_status} {m_answer[:300]!r}")
        if i >= args.warmup:
            r_times.append((t1 - t0) * 1000)
            m_times.append((t2 - t1) * 1000)
    rest.close()
    mcp.close()
    diff = pct(m_times, 50) - pct(r_times, 50)
    print(f"  MCP tools/call p50 {pct(m_times, 50):.2f} ms, REST p50 {pct(r_times, 50):.2f} ms")
    report("MCP tool call p50 minus REST p50", diff, "ms", "REST p50", pct(r_times, 50),
           "<= 0.5 ms", diff <= 0.5)  # fmt: skip


def bench_consent(ctx, args) -> None:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from apps_registry.services import app_register
    from identity.models import User

    world = ctx["world"]
    person = User.objects.get(pk=world.person_id)
    registration = app_register(
        owner=person,
        name=f"Consent bench {secrets.token_hex(3)}",
        redirect_uris=["https://bench.example.com/callback"],
        scopes={"services.github.repositories.read": True},
    )
    session = SessionStore()
    session[SESSION_KEY] = str(person.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = person.get_session_auth_hash()
    session.create()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    query = urlencode(
        {
            "response_type": "code",
            "client_id": registration.app.client.client_id,
            "redirect_uri": "https://bench.example.com/callback",
            "scope": "services.github.repositories.read",
            "state": "s",
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        }
    )
    import sweep

    sweep.fake_reset(ctx["fake_url"])
    client = Client(ctx["platform"])
    headers = {"Cookie": f"sessionid={session.session_key}"}
    times = []
    for i in range(args.consent_calls + 3):
        t0 = time.perf_counter()
        status, body = client.request("GET", f"/oauth/authorize/?{query}", headers)
        elapsed = (time.perf_counter() - t0) * 1000
        if status != 200:
            raise SystemExit(f"consent screen answered {status}: {body[:300]!r}")
        if i >= 3:
            times.append(elapsed)
    # The screen shows a page of the picker (with search and counts); that the whole listing was
    # read is the fake's count of /user/repos pages (10 of 100 per screen for 1,000).
    pages = sweep.fake_stats(ctx["fake_url"]).get("list_pages", 0) / (args.consent_calls + 3)
    shown = body.count(b"repo-0")
    print(f"  consent screen: {len(body)} bytes, {shown} repositories in the page, "
          f"{pages:.1f} provider pages read per screen")  # fmt: skip
    report("consent screen, 1,000 repositories, p50", statistics.median(times), "ms", "-", None,
           "< 300 ms", statistics.median(times) < 300 and pages >= 10)  # fmt: skip


def bench_sweep(ctx, args) -> None:
    import sweep

    for n in args.sweep:
        sweep.run(ctx, n, report)


# --- set-up ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="broker,queries,mcp,revocation,token,consent,sweep")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--window", type=float, default=4.0, help="seconds per load window")
    parser.add_argument("--rounds", type=int, default=3, help="alternating windows per side")
    parser.add_argument("--consent-calls", type=int, default=15)
    parser.add_argument("--sweep", default="1000,10000")
    parser.add_argument(
        "--token-latency-ms",
        type=float,
        default=20.0,
        help="the fake provider's token endpoint delay (a network round trip)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer calls, shorter windows")
    parser.add_argument("--profile", action="store_true", help="py-spy the platform under load")
    parser.add_argument(
        "--gil", action="store_true", help="with --profile: only samples holding the GIL (CPU)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.warmup, args.window, args.rounds = 400, 100, 2.0, 2
        args.consent_calls = 5
    args.sweep = [int(x) for x in args.sweep.split(",") if x]
    only = set(args.only.split(","))
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        raise SystemExit("Set DATABASE_URL=postgres://... and REDIS_URL=redis://... (production).")
    base_name = urlsplit(database_url).path.lstrip("/")

    procs = Processes()
    # Per run, so that two runs at once never drop each other's database.
    bench_db = f"{base_name}_bench{os.getpid()}"
    dot_db = f"{base_name}_stockdot{os.getpid()}"
    try:
        fake_port = start_fake(procs, args.token_latency_ms)
        fake_url = f"http://127.0.0.1:{fake_port}"
        platform_url = recreate_database(database_url, bench_db)
        dot_url = recreate_database(database_url, dot_db)
        env = platform_env(database_url=platform_url, redis_url=redis_url, fake_url=fake_url)
        os.environ.update(env)
        import django

        django.setup()
        import logging

        logging.disable(logging.WARNING)
        import world as worldmod
        from baselines import floor_proxy
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connections

        settings.ALLOWED_HOSTS = ["*"]
        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)  # as a deploy does
        world = worldmod.platform_world(refresh_pool=12000 if "token" in only else 0)
        # Stock DOT: migrated and seeded by its own settings, in a child process.
        dot_env = {
            **env,
            "DJANGO_SETTINGS_MODULE": "bench.baselines.stock_dot",
            "STOCK_DOT_DATABASE_URL": dot_url,
        }
        dot_world = {}
        if "token" in only:
            out = subprocess.run(
                [PYTHON, str(BENCH / "seed_stock_dot.py"), "12000"],
                cwd=ROOT, env=dot_env, check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            dot_world = json.loads(out.strip().splitlines()[-1])
        connections.close_all()
        bare_token = secrets.token_urlsafe(24)
        ctx = {"world": world, "fake_port": fake_port, "fake_url": fake_url, "env": env,
               "dot": dot_world, "bare_token": bare_token, "procs": procs,
               "servers": SERVERS, "server_cpu": server_cpu,
               "cpu_delta": cpu_delta}  # fmt: skip
        ctx["platform"] = free_port()
        web = gunicorn(procs, env, ctx["platform"])
        SERVERS["broker"] = SERVERS["platform"] = (web.pid, bench_db)
        if args.profile:
            PROFILE["platform_pid"] = web.pid
            PROFILE["gil"] = args.gil
        if "broker" in only:
            ctx["bare"] = free_port()
            bare_proc = gunicorn(
                procs,
                {**env, "DJANGO_SETTINGS_MODULE": "bench.baselines.bare_proxy",
                 "BARE_PROXY_UPSTREAM": fake_url, "BARE_PROXY_TOKEN": bare_token},
                ctx["bare"], "django.core.wsgi:get_wsgi_application()",
            )  # fmt: skip
            SERVERS["bare"] = (bare_proc.pid, None)
            # The floor proxy: the bare proxy plus the broker's unavoidable waits, on the
            # platform's database (its own two tables) and Redis.
            ctx["floor"], ctx["floor_token"] = free_port(), secrets.token_urlsafe(24)
            with connections["default"].cursor() as cursor:
                floor_proxy.seed_token(cursor, ctx["floor_token"])
            connections.close_all()
            floor_proc = gunicorn(
                procs,
                {**env, "DJANGO_SETTINGS_MODULE": "bench.baselines.floor_proxy",
                 "FLOOR_PROXY_UPSTREAM": fake_url, "FLOOR_PROXY_TOKEN_CHECKSUM":
                 hashlib.sha256(ctx["floor_token"].encode()).hexdigest()},
                ctx["floor"], "django.core.wsgi:get_wsgi_application()",
            )  # fmt: skip
            SERVERS["floor"] = (floor_proc.pid, bench_db)
        if "token" in only:
            ctx["stock"] = free_port()
            stock = gunicorn(
                procs, dot_env, ctx["stock"], "django.core.wsgi:get_wsgi_application()"
            )
            SERVERS["stock"] = (stock.pid, dot_db)
            # Stock DOT plus the platform's unavoidable waits, on stock DOT's database.
            with psycopg.connect(dot_url, autocommit=True) as conn:
                conn.execute(floor_proxy.SCHEMA)
            ctx["floor_dot"] = free_port()
            floor_dot = gunicorn(
                procs, {**dot_env, "DJANGO_SETTINGS_MODULE": "bench.baselines.floor_dot"},
                ctx["floor_dot"], "django.core.wsgi:get_wsgi_application()",
            )  # fmt: skip
            SERVERS["floor_dot"] = (floor_dot.pid, dot_db)
        print(
            f"production layout: gunicorn gunicorn.conf.py (workers="
            f"{env.get('WEB_CONCURRENCY', 'default')}, threads={env.get('GUNICORN_THREADS', 4)}), "
            f"PostgreSQL {bench_db}, Redis {redis_url}, fake GitHub on :{fake_port}; "
            f"{os.cpu_count()} CPUs, load {load_average()}",
            flush=True,
        )
        print(f"{'figure':52} {'value':>9} {'unit':7} | {'baseline':24} {'value':>9} | "
              f"{'ratio':>7} | budget", flush=True)  # fmt: skip
        steps = [
            ("broker", bench_broker),
            ("queries", bench_queries),
            ("revocation", bench_revocation),
            ("token", bench_token),
            ("mcp", bench_mcp),
            ("consent", bench_consent),
            ("sweep", bench_sweep),
        ]
        for name, step in steps:
            if name in only:
                step(ctx, args)
        out_dir = ROOT / "var" / "bench"
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "last.json").write_text(json.dumps(RESULTS, indent=2))
        budgeted = [r for r in RESULTS if r["within"] is not None]
        print(f"\n{sum(r['within'] for r in budgeted)} of {len(budgeted)} figures within budget; "
              f"results in var/bench/last.json", flush=True)  # fmt: skip
    finally:
        procs.stop_all()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        if not args.keep:
            drop_database(database_url, bench_db)
            drop_database(database_url, dot_db)


if __name__ == "__main__":
    main()
