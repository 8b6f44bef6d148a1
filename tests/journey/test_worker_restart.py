"""Killing the worker mid-flow loses nothing: a write approved while no worker runs is performed
when one starts, and a token that came due meanwhile is refreshed.

Same production layout as the journey (gunicorn, worker, beat as separate processes, Redis,
PostgreSQL or SQLite), but the app's grant and platform token are made directly in the database,
so this does not depend on the authorization flow; the write still goes through the example app,
the broker, the approvals page in Chromium and the sandbox provider over HTTP. (The sandbox
connection is issued by the sandbox itself, as the connect flow would, without the browser: the
journey connects the same sandbox account through the browser, and a provider account links to
one person's sign-in only.)
"""

from __future__ import annotations

import json

import pytest

from tests.journey.layout import journey_redis_url
from tests.journey.steps import (
    PASSWORD,
    REPO,
    Agent,
    comments_with,
    kill_worker_approve_and_resume,
    new_page,
    read_line_with,
    shell_value,
    token_expiry,
)

PERSON = "restart@example.com"
TEXT = "Written after the worker came back"
GRANT_AND_TOKEN = """
import secrets
from datetime import timedelta
from django.utils import timezone
from oauth2_provider.models import AccessToken, set_token_value
from connections import vault
from connections.models import Connection
from connections.providers import sandbox_client_credentials
from connections.sandbox.models import SandboxAccount
from connections.sandbox.oauth import _issue
from identity.models import User
from tests.factories import AppFactory, GrantFactory
read, write = "services.github.repositories.read", "services.github.repositories.write"
user = User.objects.get(email="{email}")
account = SandboxAccount.objects.get(flavour="sandbox_github", uid="583231")
scopes = ["repo", "read:user"]
issued = _issue("sandbox_github", account, sandbox_client_credentials("sandbox_github")[0], scopes,
                secrets.token_hex(8))
connection = Connection.objects.create(
    user=user, provider="sandbox_github", provider_account_id=account.uid, login=account.login,
    scopes=scopes, access_token=issued["access_token"], refresh_token=issued["refresh_token"],
    token_expires_at=timezone.now() + timedelta(seconds=issued["expires_in"]),
    token_key_id=vault.current_key_id())
app = AppFactory(name="Restart Agent", scopes=[read, write])
repo = [{{"id": "{repo}", "label": "docs"}}]
GrantFactory(user=user, app=app, scopes=[read, write], connections={{"github": connection.pk}},
             resources={{read: repo, write: repo}})
raw = "platform-" + secrets.token_urlsafe(24)
token = AccessToken(user=user, application=app.client, scope=read + " " + write,
                    expires=timezone.now() + timedelta(minutes=10))
set_token_value(token, raw)
token.save()
print(raw)
"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        journey_redis_url() is None,
        reason="the production layout needs Redis (set REDIS_URL): it is Celery's broker between "
        "the separate web, worker and beat processes",
    ),
]


def test_killing_the_worker_loses_no_approved_write_and_no_refresh(layout, browser, tmp_path):
    shell_value(
        layout,
        f"from tests.factories import UserFactory; UserFactory(email='{PERSON}', password='{PASSWORD}')",
    )
    context, page = new_page(browser)
    page.goto(f"{layout.url}/accounts/login/")
    page.fill("input[name=login]", PERSON)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{layout.url}/access/")

    raw = shell_value(layout, GRANT_AND_TOKEN.format(email=PERSON, repo=REPO))
    token_file = tmp_path / "token.json"
    token_file.write_text(json.dumps({"access_token": raw, "token_type": "Bearer"}))
    agent = Agent(layout, token_file)

    comment = agent.start("--wait", "300", "comment", REPO, "2", TEXT)
    action_id = int(read_line_with(comment, "PENDING_ACTION").split()[1])
    old_expiry = kill_worker_approve_and_resume(
        layout, page, email=PERSON, action_id=action_id, text=TEXT, shots="worker-restart"
    )
    out, err = comment.communicate(timeout=180)
    assert comment.returncode == 0, out + err
    assert "OUTCOME succeeded" in out
    layout.wait_until(
        lambda: token_expiry(layout, PERSON) != old_expiry,
        what="the connection's token to be refreshed by the restarted worker",
        timeout=120,
    )
    assert comments_with(layout, TEXT) == 1
    context.close()
