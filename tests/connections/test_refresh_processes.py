"""Exactly one refresh across processes on SQLite (the `make run` database), with the sandbox's
token endpoint served by another process over real HTTP: the lease is taken and given back in
short transactions, so the endpoint can write while a refresh is under way."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.devlayout import DevLayout
from tests.journey.layout import PYTHON, ROOT

pytestmark = pytest.mark.slow

MAKE_EXPIRED_CONNECTION = """
from django.utils import timezone
from datetime import timedelta
from connections.models import Connection
from connections.providers import sandbox_client_credentials
from connections.sandbox.models import SandboxAccount
from connections.sandbox.oauth import _issue
from identity.models import User
account = SandboxAccount.objects.get(flavour="sandbox_github", uid="583231")
issued = _issue("sandbox_github", account, sandbox_client_credentials("sandbox_github")[0],
                ["repo"], "race")
c = Connection.objects.create(
    user=User.objects.get(email="demo@example.com"), provider="sandbox_github",
    provider_account_id="583231", login=account.login, scopes=["repo"],
    access_token=issued["access_token"], refresh_token=issued["refresh_token"],
    token_expires_at=timezone.now() - timedelta(seconds=5))
print(c.pk)
"""

# One racing process: THREADS threads wait for the same instant, then ask for a token.
RACER = """
import json, sys, threading, time
import django
django.setup()
from django.db import connections
from connections.models import Connection
from connections.services import get_valid_access_token
pk, start, threads = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
results, errors = [], []
def run():
    try:
        row = Connection.objects.get(pk=pk)
        while time.time() < start:
            time.sleep(0.001)
        results.append(get_valid_access_token(row))
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connections.close_all()
workers = [threading.Thread(target=run) for _ in range(threads)]
[w.start() for w in workers]
[w.join(120) for w in workers]
print(json.dumps({"results": results, "errors": errors}))
"""


@pytest.fixture
def web(tmp_path):
    layout = DevLayout(tmp_path)
    layout.prepare()
    layout.start("web")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if layout.health()["checks"]["database"] == "ok":
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield layout
    finally:
        layout.stop_all()


@pytest.mark.parametrize("processes,threads", [(2, 5), (4, 3)])
def test_racing_processes_refresh_once_on_sqlite(web, processes, threads):
    pk = web.shell(MAKE_EXPIRED_CONNECTION)
    start = time.time() + 3  # every process is up and waiting by then
    racers = [
        subprocess.Popen(
            [PYTHON, "-c", RACER, pk, str(start), str(threads)],
            cwd=ROOT,
            env=web.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    outputs = [r.communicate(timeout=180) for r in racers]
    answers = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    errors = [e for a in answers for e in a["errors"]]
    tokens = {t for a in answers for t in a["results"]}
    assert errors == [], (errors, [err[-3000:] for _, err in outputs])
    assert len(tokens) == 1  # everyone got the same, new token
    counted = web.shell(
        "from connections.sandbox.models import SandboxTokenRequest as R; "
        "from connections.models import Connection as C; "
        f"c = C.objects.get(pk={pk}); "
        "print(R.objects.filter(grant_type='refresh_token').count(), "
        "c.access_token in " + repr(sorted(tokens)) + ", repr(c.refresh_lease_id))"
    )
    assert counted == "1 True ''"
    assert web.tracebacks() == {}
