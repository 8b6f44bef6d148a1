"""An independent fake GitHub for the benchmarks: its own process, plain asyncio, HTTP/1.1 keep-alive.

Not the platform's sandbox (which is served by the platform's own workers and would compete with
the broker for them) and not the test suite's ``tests/broker/fake_provider.py`` (a thread per
connection in the test process). One event loop in one process: the cost of an answer is a few
tens of microseconds, and its state (which refresh tokens were spent, how often) is in one place,
so the harness can check that every connection was refreshed exactly once.

    python bench/fakeprovider.py --port 0 [--token-latency-ms 20] [--repos 1000]

Prints ``listening <port>`` on its first line. Endpoints (GitHub's shapes):

- ``GET /repos/{owner}/{repo}``: one repository (needs ``Authorization: Bearer <token>``);
- ``GET /user/repos?per_page=100&page=N``: ``--repos`` repositories, 100 a page, ``Link`` header;
- ``POST /login/oauth/access_token``: the refresh grant with rotation; every refresh token is
  accepted once, a spent one answers ``200 {"error": "bad_refresh_token"}`` as GitHub does. It
  waits ``--token-latency-ms`` before answering (a real provider's token endpoint is a network
  round trip and some work away; 0 makes the baseline a pure CPU figure);
- ``GET /_stats``, ``POST /_reset``: counters for the harness.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from collections import Counter
from urllib.parse import parse_qs, urlsplit

REASONS = {200: "OK", 401: "Unauthorized", 404: "Not Found", 400: "Bad Request"}


class State:
    def __init__(self, repos: int, token_latency: float):
        self.repos = repos
        self.token_latency = token_latency
        self.reset()

    def reset(self) -> None:
        self.refresh_uses: Counter[str] = Counter()
        self.issued_refresh: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.max_in_flight = 0
        self.in_flight = 0

    def stats(self) -> dict:
        reused = sum(1 for n in self.refresh_uses.values() if n > 1)
        return {
            **self.counts,
            "refresh_tokens_spent": len(self.refresh_uses),
            "refresh_tokens_reused": reused,
            "max_token_requests_in_flight": self.max_in_flight,
        }


def _repo(owner: str, name: str, n: int = 1) -> dict:
    return {
        "id": n,
        "name": name,
        "full_name": f"{owner}/{name}",
        "private": False,
        "owner": {"login": owner, "id": 1},
        "description": "A repository served by the benchmark's fake GitHub.",
        "default_branch": "main",
        "stargazers_count": 42,
    }


async def handle(state: State, method: str, target: str, headers: dict, body: bytes):
    parts = urlsplit(target)
    path = parts.path
    if path == "/_stats":
        return 200, state.stats(), {}
    if path == "/_reset" and method == "POST":
        state.reset()
        return 200, {"ok": True}, {}
    if path == "/login/oauth/access_token" and method == "POST":
        state.counts["token_requests"] += 1
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            if state.token_latency:
                await asyncio.sleep(state.token_latency)
        finally:
            state.in_flight -= 1
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "refresh_token" or not form.get("refresh_token"):
            return 200, {"error": "unsupported_grant_type"}, {}
        spent = form["refresh_token"]
        state.refresh_uses[spent] += 1
        if state.refresh_uses[spent] > 1:
            state.counts["refresh_refused_reuse"] += 1
            return 200, {"error": "bad_refresh_token", "error_description": "reused"}, {}
        state.counts["refreshes"] += 1
        new_refresh = "bench-refresh-" + secrets.token_hex(12)
        return (
            200,
            {
                "access_token": "bench-access-" + secrets.token_hex(12),
                "token_type": "bearer",
                "expires_in": 28800,
                "refresh_token": new_refresh,
                "refresh_token_expires_in": 15897600,
                "scope": "repo,read:user",
            },
            {},
        )
    auth = headers.get("authorization", "")
    if not auth.lower().startswith(("bearer ", "token ")) or len(auth) < 12:
        return 401, {"message": "Requires authentication"}, {}
    if path == "/user/repos" and method == "GET":
        state.counts["list_pages"] += 1
        query = parse_qs(parts.query)
        size = min(int(query.get("per_page", ["30"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        start = (page - 1) * size
        items = [
            _repo("octo", f"repo-{n:05d}", n) for n in range(start, min(start + size, state.repos))
        ]
        extra = {}
        if start + size < state.repos:
            host = headers.get("host", "127.0.0.1")
            extra["Link"] = (
                f'<http://{host}/user/repos?per_page={size}&page={page + 1}>; rel="next"'
            )
        return 200, items, extra
    bits = path.strip("/").split("/")
    if method == "GET" and len(bits) == 3 and bits[0] == "repos":
        state.counts["repo_reads"] += 1
        return 200, _repo(bits[1], bits[2]), {}
    return 404, {"message": "Not Found"}, {}


async def serve_connection(state: State, reader, writer) -> None:
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            method, target, _version = line.decode("latin-1").split(" ", 2)
            headers = {}
            while True:
                h = await reader.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                name, _, value = h.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            body = await reader.readexactly(length) if length else b""
            status, payload, extra = await handle(state, method, target, headers, body)
            data = json.dumps(payload).encode()
            head = [
                f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}",
                "Content-Type: application/json; charset=utf-8",
                f"Content-Length: {len(data)}",
                "Connection: keep-alive",
            ] + [f"{k}: {v}" for k, v in extra.items()]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                return
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        return
    finally:
        writer.close()


async def main_async(port: int, state: State) -> None:
    server = await asyncio.start_server(
        lambda r, w: serve_connection(state, r, w), "127.0.0.1", port, backlog=1024
    )
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--repos", type=int, default=1000)
    parser.add_argument("--token-latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    state = State(args.repos, args.token_latency_ms / 1000)
    try:
        asyncio.run(main_async(args.port, state))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
