"""End to end over real HTTP: the broker in front of the platform's sandbox provider (GitHub,
Slack and Drive shaped) in live_server, with the real vault (connections.services)."""

import logging
import secrets

import pytest
import requests
from django.utils import timezone

from tests.broker.conftest import (
    ALL_SCOPES,
    DR_READ,
    DR_WRITE,
    GH_READ,
    GH_WRITE,
    SL_READ,
    SL_WRITE,
    issue_token,
)
from tests.factories import AppFactory, GrantFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

UIDS = {"sandbox_github": "583231", "sandbox_slack": "U0ALICE01", "sandbox_google": "110001"}
PROVIDER_SCOPES = {
    "sandbox_github": ["repo", "read:user"],
    "sandbox_slack": ["channels:read", "channels:history", "chat:write"],
    "sandbox_google": [
        "https://www.googleapis.com/auth/drive.readonly",
        "https://www.googleapis.com/auth/drive.file",
    ],
}


class Sandboxed:
    def __init__(self, base, user, app, grant, connections, issued):
        self.base, self.user, self.app, self.grant = base, user, app, grant
        self.connections, self.issued = connections, issued

    def token(self, **kw):
        return issue_token(app=self.app, user=self.user, scopes=self.grant.scopes, **kw)

    def get(self, path, token=None):
        return requests.get(
            f"{self.base}/api/v1/{path}",
            headers={"Authorization": f"Bearer {token or self.token()}"},
            timeout=20,
        )

    def post(self, path, body, token=None):
        return requests.post(
            f"{self.base}/api/v1/{path}",
            json=body,
            headers={"Authorization": f"Bearer {token or self.token()}"},
            timeout=20,
        )

    def sandbox_tokens(self):
        from connections.models import Connection

        found = {
            t for issued in self.issued for t in (issued["access_token"], issued["refresh_token"])
        }
        for c in Connection.objects.all():
            found |= {c.access_token, c.refresh_token} - {None}
        return found


@pytest.fixture
def sb(live_server, settings):
    from django.core.cache import cache

    from connections import vault
    from connections.demo import seed_sandbox
    from connections.models import Connection
    from connections.providers import sandbox_client_credentials
    from connections.sandbox.models import SandboxAccount
    from connections.sandbox.oauth import _issue

    settings.SANDBOX_BASE_URL = live_server.url
    settings.SANDBOX_ENABLED = True
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "apps_registry.hashers.ClientSecretHasher",
    ]
    cache.clear()
    seed_sandbox()
    user = UserFactory()
    app = AppFactory(scopes=ALL_SCOPES)
    connections, issued_all = {}, []
    for flavour, uid in UIDS.items():
        account = SandboxAccount.objects.get(flavour=flavour, uid=uid)
        issued = _issue(
            flavour,
            account,
            sandbox_client_credentials(flavour)[0],
            PROVIDER_SCOPES[flavour],
            secrets.token_hex(8),
        )
        issued_all.append(issued)
        connections[flavour.removeprefix("sandbox_")] = Connection.objects.create(
            user=user,
            provider=flavour,
            provider_account_id=uid,
            login=account.login,
            scopes=PROVIDER_SCOPES[flavour],
            access_token=issued["access_token"],
            refresh_token=issued["refresh_token"],
            token_expires_at=timezone.now() + timezone.timedelta(seconds=issued["expires_in"]),
            token_key_id=vault.current_key_id(),
        )
    grant = GrantFactory(
        user=user,
        app=app,
        scopes=[*ALL_SCOPES],
        connections={s: c.pk for s, c in connections.items()},
        resources={
            GH_READ: [{"id": "octo-demo/docs", "label": "docs"}],
            GH_WRITE: [{"id": "octo-demo/docs", "label": "docs"}],
            SL_READ: [{"id": "C0GENERAL1", "label": "#general"}],
            SL_WRITE: [{"id": "C0GENERAL1", "label": "#general"}],
            DR_READ: [{"id": "1FoldProjectsAda", "label": "Projects"}],
            DR_WRITE: [{"id": "1FoldProjectsAda", "label": "Projects"}],
        },
    )
    yield Sandboxed(live_server.url, user, app, grant, connections, issued_all)
    # Keep-alive connections to the live server hold its request threads (and their database
    # sessions) open past the test; close them before the server and the database go away.
    from broker.upstream import close_session

    close_session()


def test_github_operations(sb):
    r = sb.get("github/repos?page_size=100")
    assert r.status_code == 200
    assert [repo["full_name"] for repo in r.json()["items"]] == ["octo-demo/docs"]
    r = sb.get("github/repos/Octo-Demo/Docs")
    assert r.status_code == 200 and r.json()["data"]["full_name"] == "octo-demo/docs"
    r = sb.get("github/repos/octo-demo/docs/contents/guide/faq.md")
    assert r.status_code == 200 and r.json()["data"]["path"] == "guide/faq.md"
    r = sb.get("github/repos/octo-demo/docs/issues")
    assert r.status_code == 200 and len(r.json()["items"]) >= 3
    r = sb.post("github/repos/octo-demo/docs/issues", {"title": "From the broker"})
    assert r.status_code == 201 and r.json()["data"]["title"] == "From the broker"
    number = r.json()["data"]["number"]
    r = sb.post(f"github/repos/octo-demo/docs/issues/{number}/comments", {"body": "ok"})
    assert r.status_code == 201


@pytest.mark.parametrize(
    "path", ["github/repos/octo-demo/secret-plans", "github/repos/Octo-Demo/Secret-Plans/issues",
             "github/repos/octo-demo%2Fsecret-plans/issues", "github/repos/hubot/robot-brain"]
)  # fmt: skip
def test_github_outside_selection(sb, path):
    r = sb.get(path)
    assert r.status_code in {403, 404} and r.json()["error"]["code"] in {
        "resource_not_granted",
        "not_found",
    }


def test_slack_operations(sb):
    r = sb.get("slack/channels")
    assert r.status_code == 200 and [c["id"] for c in r.json()["items"]] == ["C0GENERAL1"]
    r = sb.get("slack/channels/C0GENERAL1/messages")
    assert r.status_code == 200 and r.json()["items"]
    r = sb.post("slack/channels/c0general1/messages", {"text": "hello from the broker"})
    assert r.status_code == 201 and r.json()["data"]["channel"] == "C0GENERAL1"
    assert sb.get("slack/channels/C0RANDOM01/messages").status_code == 403


def test_drive_operations(sb):
    r = sb.get("google/drive/folders/1FoldProjectsAda/files")
    assert r.status_code == 200
    names = {f["name"] for f in r.json()["items"]}
    assert {"notes.txt", "plan.md"} <= names
    r = sb.get("google/drive/files/1FileNotesAda")
    assert r.status_code == 200 and r.json()["data"]["name"] == "notes.txt"
    r = sb.get("google/drive/files/1FileNotesAda/content")
    assert r.status_code == 200 and r.content == b"Analytical engine notes.\n"
    # In a sub-folder of the selected folder, not in the selected folder itself.
    r = sb.get("google/drive/files/1FileReport01")
    assert r.status_code == 403 and r.json()["error"]["code"] == "resource_not_granted"
    r = sb.get("google/drive/folders/1FoldArchiveAda/files")
    assert r.status_code == 403
    r = sb.post("google/drive/folders/1FoldProjectsAda/files", {"name": "new.txt", "content": "x"})
    assert r.status_code == 201, r.content
    new_id = r.json()["data"]["id"]
    assert sb.get(f"google/drive/files/{new_id}/content").content == b"x"


def test_last_used_on_grant_and_connection(sb):
    from connections.models import Connection

    assert sb.get("github/repos/octo-demo/docs").status_code == 200
    sb.grant.refresh_from_db()
    assert sb.grant.last_used_at is not None
    assert Connection.objects.get(pk=sb.connections["github"].pk).last_used_at is not None


def test_me_and_token(sb):
    assert sb.get("me").json()["email"] == sb.user.email
    body = sb.get("token").json()
    assert body["services"]["github"] == {"provider": "sandbox_github", "connection_active": True}


def test_pending_write_approved_in_consent_performed_once(sb):
    from config.celery import app as celery_app
    from consent.models import PendingAction
    from consent.services import pending_action_approve

    sb.grant.scopes = [s for s in sb.grant.scopes if s != "agents.actions.unattended_writes"]
    sb.grant.save()
    r = sb.post("github/repos/octo-demo/docs/issues", {"title": "Needs approval"})
    assert r.status_code == 202
    pending = r.json()["pending_action"]
    before = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = celery_app.conf.task_eager_propagates = True
    try:
        pending_action_approve(action_id=pending["id"], user=sb.user)
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before
    status = sb.get(pending["status_url"].removeprefix("/api/v1/")).json()["pending_action"]
    assert status["status"] == "succeeded" and status["result"]["data"]["title"] == "Needs approval"
    from connections.sandbox.models import SandboxIssue

    assert SandboxIssue.objects.filter(title="Needs approval").count() == 1
    assert PendingAction.objects.get(pk=pending["id"]).executed_at is not None


def test_provider_401_refreshes_through_the_vault(sb):
    from connections.models import Connection
    from connections.sandbox.models import SandboxToken, digest

    old = sb.connections["github"].access_token
    SandboxToken.objects.filter(token_digest=digest(old)).update(revoked_at=timezone.now())
    r = sb.get("github/repos/octo-demo/docs")
    assert r.status_code == 200
    assert Connection.objects.get(pk=sb.connections["github"].pk).access_token != old


def test_disconnected_connection_needs_reauthorization(sb):
    from connections.services import connection_disconnect

    connection_disconnect(connection=sb.connections["slack"], actor=sb.user)
    r = sb.get("slack/channels")
    assert r.status_code in {403, 409}
    assert r.json()["error"]["code"] in {"connection_needs_reauthorization", "insufficient_scope"}


def test_no_sandbox_token_anywhere(sb, caplog):
    from audit.models import AuditEvent

    caplog.set_level(logging.DEBUG)
    bodies = [
        sb.get(p).text
        for p in [
            "me",
            "token",
            "github/repos",
            "github/repos/octo-demo/docs/contents/README.md",
            "github/repos/octo-demo/nope",
            "slack/channels/C0GENERAL1/messages",
            "google/drive/files/1FileNotesAda",
            "google/drive/files/1FileNotesAda/content",
        ]
    ]
    secrets_ = sb.sandbox_tokens()
    assert len(secrets_) >= 6
    rows = [str(e.canonical()) for e in AuditEvent.objects.all()]
    for secret in secrets_:
        for text in [*bodies, caplog.text, *rows]:
            assert secret not in text
