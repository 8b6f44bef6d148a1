"""Load clients for the harness: keep-alive HTTP/1.1 over ``http.client`` (little client CPU).

Used two ways: imported (``Client``, for the one-client latency runs) and as a process
(``python bench/load.py`` with a JSON spec on stdin) so that 16 concurrent clients are spread over a few
processes instead of fighting over one interpreter's lock. A process prints one JSON line:
``{"ok": n, "statuses": {...}, "latencies_ms": [...], "seconds": wall}``.

Spec: ``{"port", "method", "path", "headers", "threads", "duration", "start_at",
"bodies": "form" | null, "form": {...}, "tokens": [...]}``; with ``tokens`` each request spends
the next one as ``refresh_token`` in the form (a refresh grant per request).
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from urllib.parse import urlencode


class Client:
    """One keep-alive connection; reconnects once if the server closed it (worker recycling)."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=60)

    def request(self, method: str, path: str, headers: dict, body: bytes | None = None):
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def run(spec: dict) -> dict:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    tokens = iter(spec.get("tokens") or ())
    start_at = spec.get("start_at") or time.time()
    stop_at = start_at + spec["duration"]
    headers = dict(spec.get("headers") or {})
    form = spec.get("form")
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"

    def worker():
        client = Client(spec["port"])
        local_lat, local_status = [], {}
        while time.time() < start_at:
            time.sleep(0.001)
        while time.time() < stop_at:
            body = None
            if form is not None:
                data = dict(form)
                if "tokens" in spec:
                    with lock:
                        value = next(tokens, None)
                    if value is None:
                        break
                    data["refresh_token"] = value
                body = urlencode(data).encode()
            t0 = time.perf_counter()
            status, _ = client.request(spec["method"], spec["path"], headers, body)
            local_lat.append((time.perf_counter() - t0) * 1000)
            local_status[str(status)] = local_status.get(str(status), 0) + 1
        client.close()
        with lock:
            latencies.extend(local_lat)
            for k, v in local_status.items():
                statuses[k] = statuses.get(k, 0) + v

    threads = [threading.Thread(target=worker) for _ in range(spec["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - start_at
    return {
        "ok": statuses.get("200", 0),
        "statuses": statuses,
        "latencies_ms": latencies,
        "seconds": wall,
    }


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read()))))
