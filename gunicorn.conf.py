"""Gunicorn settings for the web process (``gunicorn -c gunicorn.conf.py config.wsgi``).

Everything an operator tunes comes from the environment (documented in docs/guide-operators.md):

- ``PORT`` / ``GUNICORN_BIND``: where to listen (default ``127.0.0.1:$PORT``, ``PORT`` 8000).
- ``WEB_CONCURRENCY``: worker processes (default: 2 x CPUs + 1, at most 8).
- ``GUNICORN_THREADS``: threads per worker (default 4; the gthread worker).
- ``GUNICORN_TIMEOUT``: seconds a request may take before its worker is replaced (default 30).
- ``GUNICORN_GRACEFUL_TIMEOUT``: seconds in-flight requests get after SIGTERM (default 30).

Logs: one JSON object per line on stdout (access) and stderr (errors); each access line carries
the request id the platform gave the request (``X-Request-ID``), the same id the audit log keeps.
The web tier is stateless (sessions in the database, cache in Redis), so any number of these
processes, on any number of machines, can serve the same PostgreSQL and Redis.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time

from gunicorn.glogging import Logger


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = int(raw)  # a bad value should stop the server with Python's own clear message
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return value


port = _int("PORT", 8000)
bind = os.environ.get("GUNICORN_BIND", "").strip() or f"127.0.0.1:{port}"
workers = _int("WEB_CONCURRENCY", min(multiprocessing.cpu_count() * 2 + 1, 8))
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread"
timeout = _int("GUNICORN_TIMEOUT", 30)
# SIGTERM: stop accepting, finish in-flight requests for up to this long, then exit.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# Recycle workers now and then so that a slow leak never becomes an outage.
max_requests = 2000
max_requests_jitter = 200
# TLS ends at the proxy in front; trust its X-Forwarded-* only from these addresses.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# No temporary files on a disk that might be slow or shared: heartbeats in memory.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - gunicorn's advice
proc_name = "platform-web"


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """Gunicorn's own messages (start, stop, worker timeouts) as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "asctime": _iso(record.created),
            "levelname": record.levelname,
            "name": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class JsonLogger(Logger):
    """Access lines as JSON with the request id; never the query string (it may hold codes)."""

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())
        for handler in self.access_log.handlers:  # access() below writes the JSON itself
            handler.setFormatter(logging.Formatter("%(message)s"))

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        request_id = "-"
        for name, value in resp.headers:
            if name.lower() == "x-request-id":
                request_id = value
        self.access_log.info(
            json.dumps(
                {
                    "asctime": _iso(time.time()),
                    "levelname": "INFO",
                    "name": "gunicorn.access",
                    "message": "request",
                    "request_id": request_id,
                    "method": environ.get("REQUEST_METHOD"),
                    "path": environ.get("PATH_INFO"),
                    "status": int(status),
                    "bytes": getattr(resp, "sent", None),
                    "duration_ms": round(request_time.total_seconds() * 1000, 1),
                    "remote_addr": environ.get("REMOTE_ADDR"),
                    "user_agent": environ.get("HTTP_USER_AGENT", ""),
                }
            )
        )


logger_class = JsonLogger
