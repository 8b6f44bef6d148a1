"""Start the production process layout (the real Procfile lines) for end-to-end tests.

Each process type of ``Procfile`` runs as its own OS process with a production environment
(``DJANGO_DEBUG`` off, generated secret and vault keys): gunicorn, the Celery worker and beat.
The layout gets a database of its own (a ``<name>_journey`` PostgreSQL database next to
``DATABASE_URL``'s, or a temporary SQLite file) and a Redis database of its own
(``REDIS_URL``'s number + 8, modulo 16, or ``JOURNEY_REDIS_URL``; see REDIS_OFFSETS), so it never shares queues,
locks or rows with a developer's running platform or with pytest-django's test database.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile(path: Path = ROOT / "Procfile") -> dict[str, str]:
    """The process types of a Procfile, in order: ``{"web": "gunicorn ...", ...}``."""
    processes: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, command = line.partition(":")
        processes[name.strip()] = command.strip()
    return processes


def journey_database_url(tmp_path: Path, *, suffix: str = "journey") -> str:
    """A database of the layout's own: ``<DATABASE_URL's name>_<suffix>``, or a SQLite file."""
    base = os.environ.get("DATABASE_URL", "")
    if base.startswith(("postgres://", "postgresql://")):
        parts = urlsplit(base)
        name = parts.path.lstrip("/") or "platform"
        return urlunsplit(parts._replace(path=f"/{name}_{suffix}"))
    return f"sqlite:///{tmp_path / f'{suffix}.sqlite3'}"


# Each user of Redis in these tests gets its own database number (REDIS_URL's + offset, mod 16),
# so that their queues and beat locks never meet: the journey's layout, `make prod`, the lock test.
REDIS_OFFSETS = {"journey": 8, "make-prod": 9, "beat-lock": 10}


def journey_redis_url(purpose: str = "journey") -> str | None:
    if os.environ.get("JOURNEY_REDIS_URL") and purpose == "journey":
        return os.environ["JOURNEY_REDIS_URL"]
    base = os.environ.get("REDIS_URL")
    if not base:
        return None
    parts = urlsplit(base)
    number = int(parts.path.lstrip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(number + REDIS_OFFSETS[purpose]) % 16}"))


def recreate_postgres_database(url: str) -> None:
    import dj_database_url
    import psycopg
    from psycopg import sql

    cfg = dj_database_url.parse(url)
    params = {
        "host": cfg["HOST"] or None,
        "port": cfg["PORT"] or None,
        "user": cfg["USER"] or None,
        "password": cfg["PASSWORD"] or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(cfg["NAME"]))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))


def production_environment(*, database_url: str, redis_url: str | None, port: int, **extra) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        # pytest's own environment (debug defaults from tests/testenv.py) must not leak in.
        if key
        not in {"DJANGO_DEBUG", "LOG_JSON", "HTTPS", "DJANGO_ALLOW_ASYNC_UNSAFE", "REDIS_URL"}
        and not key.startswith("PYTEST")
    }
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "VAULT_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": database_url,
            "PORT": str(port),
            "HTTPS": "0",
            "EMAIL_URL": "console://",
            "LOG_JSON": "1",
            "WEB_CONCURRENCY": "2",
            "GUNICORN_THREADS": "4",
            "CELERY_CONCURRENCY": "2",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update({key: str(value) for key, value in extra.items()})
    return env


def manage(env: Mapping[str, str], *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result


@dataclass
class Process:
    name: str
    command: str
    env: dict
    log_path: Path
    popen: subprocess.Popen | None = None
    _log: object = None

    def start(self) -> Process:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        # A new session: the process and the children it forks are signalled as one group.
        self.popen = subprocess.Popen(
            f"exec {self.command}",
            shell=True,
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        """Signal the main process only, as a process manager does (it tells its children)."""
        if self.running:
            os.kill(self.popen.pid, signum)

    def stop(self, *, timeout: float = 40) -> int | None:
        """SIGTERM (graceful), then SIGKILL if it does not end within ``timeout``."""
        if self.popen is None:
            return None
        if self.running:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log:
            self._log.close()
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL the whole process group: it dies mid-task, nothing graceful."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Layout:
    env: dict
    port: int
    logs: Path
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, name: str) -> Process:
        command = procfile()[name]
        process = Process(name, command, self.env, self.logs / f"{name}.log").start()
        self.processes[name] = process
        return process

    def stop_all(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:
            return json.loads(response.read())

    def wait_until(self, predicate, *, what: str, timeout: float = 60, every: float = 0.3):
        """Poll ``predicate`` until it returns something truthy (a readiness wait, not a timing assertion)."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = predicate()
                if value:
                    return value
            except Exception as exc:  # not up yet
                last_error = exc
            time.sleep(every)
        logs = "\n".join(f"--- {p.name} ---\n{p.log()[-4000:]}" for p in self.processes.values())
        raise AssertionError(f"timed out waiting for {what} (last error: {last_error})\n{logs}")

    def wait_for_web(self) -> None:
        self.wait_until(
            lambda: self.health()["checks"]["database"] == "ok", what="gunicorn /healthz"
        )

    def wait_for_worker(self) -> None:
        self.wait_until(
            lambda: self.health()["checks"]["worker"] == "ok",
            what="the worker's heartbeat",
            timeout=90,
        )
