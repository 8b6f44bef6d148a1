"""Start the README's `make run` layout (the real ``Procfile.dev`` lines) for long-running tests.

Like ``make run``: ``DJANGO_DEBUG=1``, SQLite, no Redis (Celery's embedded filesystem broker, which
lives beside the database file), the web process serving the sandbox provider on ``PORT`` with
``SANDBOX_BASE_URL`` following it, and a worker that runs beat. The layout gets a SQLite file of
its own in a temporary folder, so it never meets a developer's running platform or pytest's test
database; extra environment (shorter token lifetimes...) goes in through settings only.
"""

from __future__ import annotations

import os
import re
import urllib.request
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

import requests

from tests.journey.layout import BIN, ROOT, Process, free_port, manage, procfile

# What must never appear in a process's log: a Python traceback or Django's debug page.
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|Internal Server Error")


def dev_environment(*, database_url: str, port: int, **extra) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "LOG_JSON"}
        and not key.startswith("PYTEST")
    }
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "1",
            "DATABASE_URL": database_url,
            "PORT": str(port),
            "SANDBOX_BASE_URL": f"http://127.0.0.1:{port}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


@dataclass
class DevLayout:
    """``Procfile.dev``'s processes on a SQLite file of their own."""

    tmp: Path
    extra: dict = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    processes: dict[str, Process] = field(default_factory=dict)

    def __post_init__(self):
        self.env = dev_environment(
            database_url=f"sqlite:///{self.tmp / 'db.sqlite3'}", port=self.port, **self.extra
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def prepare(self) -> None:
        """What ``make demo`` does: migrate and seed the demo."""
        manage(self.env, "migrate", "--no-input")
        manage(self.env, "seed_demo")

    def start(self, name: str) -> Process:
        command = procfile(ROOT / "Procfile.dev")[name]
        process = Process(name, command, self.env, self.tmp / f"{name}.log").start()
        self.processes[name] = process
        return process

    def stop_all(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop(timeout=20)

    def health(self) -> dict:
        import json

        with urllib.request.urlopen(f"{self.url}/healthz", timeout=10) as response:
            return json.loads(response.read())

    def tracebacks(self) -> dict[str, list[str]]:
        """Each process's log lines around a traceback (empty when there is none)."""
        found = {}
        for name, process in self.processes.items():
            text = process.log()
            hits = [
                text[max(0, m.start() - 300) : m.start() + 1500] for m in TRACEBACK.finditer(text)
            ]
            if hits:
                found[name] = hits
        return found

    def shell(self, code: str) -> str:
        """Run Python in the layout's environment; the last line it printed."""
        return manage(self.env, "shell", "-c", code).stdout.strip().splitlines()[-1]


def form_fields(html: str) -> dict:
    values = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        kind = re.search(r'type="([^"]*)"', tag)
        if not name or (kind and kind.group(1) in {"radio", "checkbox"}):
            continue
        values[unescape(name.group(1))] = unescape(value.group(1)) if value else ""
    return values


class Person:
    """A person's browser over real HTTP (requests): signs in with the form, submits forms."""

    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(self.url(path), timeout=kw.pop("timeout", 30), **kw)

    def submit(self, page: requests.Response, extra: dict | None = None, action: str | None = None):
        data = form_fields(page.text)
        data.update(extra or {})
        return self.http.post(
            self.url(action) if action else page.url,
            data=data,
            timeout=30,
            headers={"Referer": page.url},
        )

    def sign_in(self, email: str, password: str) -> None:
        page = self.get("/accounts/login/")
        done = self.submit(page, {"login": email, "password": password})
        assert done.status_code == 200 and "/accounts/login/" not in done.url, done.text[-2000:]

    def connect_sandbox(
        self, provider: str, scopes: str, account: str | None = None
    ) -> requests.Response:
        """The whole connect flow, at the sandbox's own consent page; the connections page."""
        start = self.get(f"/connections/connect/{provider}/?scopes={scopes}")
        assert start.status_code == 200, start.text[-2000:]
        authorize = self.submit(start)
        assert authorize.status_code == 200 and "/sandbox/" in authorize.url, authorize.text[-2000:]
        radio = re.search(r'name="account" value="([^"]*)"[^>]*checked', authorize.text)
        chosen = account or radio.group(1)
        done = self.submit(authorize, {"decision": "approve", "account": chosen})
        assert done.status_code == 200 and "/connections/" in done.url, done.text[-2000:]
        return done
