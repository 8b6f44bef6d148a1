"""A provider that hangs cannot take the platform down (issue 11), over real HTTP against the
production web process (gunicorn, 2 workers x 4 threads, the Procfile's line).

Eight calls go at once to a GitHub that accepts connections and never answers. Each process sends
at most ``BROKER_PROVIDER_CONCURRENCY`` (2) of them; the others are refused at once with
``503 upstream_unavailable`` and ``Retry-After``, and those that were sent end at the call's
deadline. Meanwhile ``/healthz`` and a call to a healthy provider (Slack, the fake) answer.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.broker import fake_provider
from tests.journey.layout import Layout, free_port, manage, production_environment

pytestmark = pytest.mark.slow

DEADLINE = 4  # BROKER_CALL_DEADLINE_SECONDS for this layout (default 8)

WORLD = """
import secrets
from tests.broker.conftest import ALL_SCOPES, SL_READ, GH_READ, issue_token
from tests.factories import AppFactory, ConnectionFactory, GrantFactory, UserFactory
user = UserFactory()
app = AppFactory(scopes=ALL_SCOPES)
gh = ConnectionFactory(user=user, provider="github", login="octo", access_token="gh-token")
sl = ConnectionFactory(user=user, provider="slack", login="T1", access_token="slack-token")
grant = GrantFactory(user=user, app=app, scopes=[GH_READ, SL_READ],
    connections={"github": gh.pk, "slack": sl.pk},
    resources={GH_READ: [{"id": "octo/hello", "label": "octo/hello"}],
               SL_READ: [{"id": "C0001", "label": "#general"}]})
print(issue_token(app=app, user=user, scopes=[GH_READ, SL_READ]))
"""


class Hanging:
    """Accepts TCP connections and never answers (a stuck provider); counts them."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def _get(url: str, token: str | None = None, timeout: float = 30):
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, headers, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        status, headers, body = exc.code, dict(exc.headers), exc.read()
    return status, headers, json.loads(body or b"null"), time.monotonic() - started


@pytest.fixture
def platform(tmp_path):
    hanging = Hanging()
    fake, server = fake_provider.start()
    fake.valid_tokens.add("slack-token")
    port = free_port()
    env = production_environment(
        database_url=f"sqlite:///{tmp_path / 'slow.sqlite3'}",
        redis_url=None,
        port=port,
        GITHUB_CLIENT_ID="gh-id",
        GITHUB_CLIENT_SECRET="gh-secret",
        GITHUB_API_URL=f"http://127.0.0.1:{hanging.port}",
        SLACK_CLIENT_ID="sl-id",
        SLACK_CLIENT_SECRET="sl-secret",
        SLACK_API_URL=f"{fake.url}/slack/api",
        BROKER_CALL_DEADLINE_SECONDS=DEADLINE,
        BROKER_RATE_LIMIT_PER_GRANT=0,
        WEB_CONCURRENCY=2,
        GUNICORN_THREADS=4,
    )
    manage(env, "collectstatic", "--no-input", "--verbosity", "0")
    manage(env, "migrate", "--no-input")
    token = manage(env, "shell", "-c", WORLD).stdout.strip().splitlines()[-1]
    layout = Layout(env=env, port=port, logs=tmp_path)
    layout.start("web")
    try:
        layout.wait_for_web()
        yield layout, token, hanging, fake
    finally:
        layout.stop_all()
        hanging.close()
        server.shutdown()


def test_eight_calls_to_a_hanging_provider_leave_the_platform_answering(platform):
    layout, token, hanging, _fake = platform
    results = []

    def stuck_call():
        results.append(_get(f"{layout.url}/api/v1/github/repos/octo/hello", token))

    callers = [threading.Thread(target=stuck_call) for _ in range(8)]
    for caller in callers:
        caller.start()
    time.sleep(0.5)  # the eight are in flight (or refused) by now

    health = _get(f"{layout.url}/healthz")
    healthy_call = _get(f"{layout.url}/api/v1/slack/channels", token)
    print(f"healthz {health[3]:.2f} s, healthy provider call {healthy_call[3]:.2f} s")
    assert health[0] == 200 and health[3] < 2
    assert healthy_call[0] == 200 and healthy_call[3] < 2
    assert [i["id"] for i in healthy_call[2]["items"]] == ["C0001"]

    for caller in callers:
        caller.join(60)
    assert len(results) == 8
    for status, headers, body, elapsed in results:
        assert status == 503 and body["error"]["code"] == "upstream_unavailable"
        assert int(headers["Retry-After"]) >= 1
        assert elapsed < DEADLINE + 3  # the deadline, not 3 attempts x 20 s
    # At most 2 per web process reached the stuck provider; the rest were refused unsent.
    assert len(hanging.accepted) <= 2 * 2
    print("elapsed:", sorted(round(r[3], 2) for r in results), "sent:", len(hanging.accepted))
    # Nothing crashed.
    assert "Traceback" not in layout.processes["web"].log()
