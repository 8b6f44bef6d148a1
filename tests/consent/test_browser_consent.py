"""The whole consent journey in real headless Chromium, against the sandbox providers.

Sign in; an app asks for GitHub read and Slack read with background access; Slack is missing and
GitHub needs an upgrade; the person connects Slack and upgrades GitHub (sandbox providers served
by the live server on 127.0.0.1), selects two repositories and one channel, leaves background off
and approves; the app gets a code and tokens; a second request for the same scopes needs no
screen; a third adding a write scope shows only the delta. Screenshots: test-artifacts/.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from audit.actions import Action
from audit.models import AuditEvent
from connections.models import Connection
from consent.models import Grant
from tests.browser import shot
from tests.consent.helpers import (
    BACKGROUND,
    GH_READ,
    GH_WRITE,
    SECRET,
    SLACK_READ,
    authorize_url,
    make_app,
    pkce_pair,
)
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPOS = ("octo-demo/docs", "octocat/hello-world")
CHANNEL = "C0GENERAL1"


@pytest.fixture
def live(live_server, settings):
    """The platform, and its sandbox providers, in one live server; the sandbox seeded."""
    from connections.demo import seed_sandbox

    settings.SANDBOX_BASE_URL = live_server.url
    settings.SANDBOX_ENABLED = True
    seed_sandbox()
    return live_server


class _Callback(BaseHTTPRequestHandler):
    visits: list

    def do_GET(self):
        if self.path.startswith("/callback"):  # not the browser's /favicon.ico
            self.visits.append(self.path)
        body = b"<h1>The app got an answer</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def app_callback():
    """The app's redirect URI: a real HTTP server on 127.0.0.1 recording every visit."""
    visits: list[str] = []
    handler = type("Callback", (_Callback,), {"visits": visits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/callback", visits
    server.shutdown()
    server.server_close()


def exchange(base, app, code, verifier, redirect_uri):
    response = requests.post(
        f"{base}/oauth/token/",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=(app.client.client_id, SECRET),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def code_from(url):
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert "error" not in params, params
    return params["code"]


def sandbox_approve(page, account=None):
    """On the sandbox provider's own authorize page: pick the account and approve."""
    page.wait_for_selector("text=authorize the Agent Access Platform")
    if account:
        page.check(f'input[name=account][value="{account}"]')
    page.click("button[name=decision][value=approve]")


def test_consent_journey(live, page, app_callback):
    base = live.url
    callback, visits = app_callback
    person = UserFactory(email="grace@example.com")
    app = make_app(
        {GH_READ: True, SLACK_READ: True, BACKGROUND: False, GH_WRITE: True},
        name="Standup Summariser",
        verified=True,
        may_request_background=True,
        privacy_policy_url="https://app.example.com/privacy",
        client__redirect_uris=callback,
    )

    # Sign in.
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", person.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert "/accounts/login/" not in page.url

    # The person connected GitHub earlier with a narrow scope (no repository access).
    page.goto(f"{base}/connections/connect/sandbox_github/?scopes=read:user")
    page.click("main button:has-text('Continue to')")
    sandbox_approve(page, account="583231")
    page.wait_for_url(f"{base}/connections/**")
    github = Connection.objects.get(user=person, provider="sandbox_github")
    assert "repo" not in github.scopes

    # 1. The app asks for GitHub read and Slack read, with background access.
    verifier, challenge = pkce_pair()
    first = authorize_url(
        app, [GH_READ, SLACK_READ, BACKGROUND], challenge=challenge, redirect_uri=callback
    )
    page.goto(base + first)
    page.wait_for_selector("#consent-form")
    assert page.inner_text("h1").startswith("Standup Summariser")
    assert page.is_visible("text=Verified")
    assert page.get_attribute(f'[data-scope="{SLACK_READ}"]', "data-outcome") == "needs_connection"
    assert page.get_attribute(f'[data-scope="{GH_READ}"]', "data-outcome") == "needs_upgrade"
    assert page.is_disabled("#approve")
    shot(page, "consent-01-missing-slack-and-github-upgrade")

    # Connect Slack from the screen; the flow comes back to the same request.
    page.click("a.fix:has-text('Connect Slack')")
    page.wait_for_selector("text=Continue to")
    shot(page, "consent-02-connect-slack")
    page.click("main button:has-text('Continue to')")
    sandbox_approve(page)
    page.wait_for_selector("#consent-form")
    assert page.get_attribute(f'[data-scope="{SLACK_READ}"]', "data-outcome") == "new"
    assert page.get_attribute(f'[data-scope="{GH_READ}"]', "data-outcome") == "needs_upgrade"
    shot(page, "consent-03-slack-connected")

    # Upgrade GitHub access from the screen.
    page.click("a.fix:has-text('Upgrade GitHub access')")
    page.wait_for_selector("text=Continue to")
    shot(page, "consent-04-upgrade-github")
    page.click("main button:has-text('Continue to')")
    sandbox_approve(page, account="583231")
    page.wait_for_selector("#consent-form")
    github.refresh_from_db()
    assert "repo" in github.scopes
    assert page.get_attribute(f'[data-scope="{GH_READ}"]', "data-outcome") == "new"
    assert page.is_enabled("#approve")
    # Background access is offered, explained, and off.
    assert not page.is_checked(f'input[name=accept][value="{BACKGROUND}"]')
    shot(page, "consent-05-ready-to-approve")

    # Select two repositories and one channel, leave background off, approve.
    for repo in REPOS:
        page.check(f'input[name="resource:{GH_READ}"][value="{repo}"]')
    page.check(f'input[name="resource:{SLACK_READ}"][value="{CHANNEL}"]')
    page.check('input[name=duration][value="30d"]')
    shot(page, "consent-06-selected")
    page.click("#approve")
    page.wait_for_url(f"{callback}*")
    assert len(visits) == 1
    tokens = exchange(base, app, code_from(visits[-1]), verifier, callback)
    assert set(tokens["scope"].split()) == {GH_READ, SLACK_READ}
    assert "refresh_token" not in tokens  # background was left off
    grant = Grant.objects.get(user=person, app=app)
    assert set(grant.scopes) == {GH_READ, SLACK_READ}
    assert sorted(r["id"] for r in grant.resources[GH_READ]) == sorted(REPOS)
    assert [r["id"] for r in grant.resources[SLACK_READ]] == [CHANNEL]
    assert grant.declined_scopes == [BACKGROUND]

    # 2. The same request again: no screen, straight back to the app with a code.
    shown = AuditEvent.objects.filter(action=Action.CONSENT_SHOWN).count()
    verifier, challenge = pkce_pair()
    page.goto(
        base
        + authorize_url(
            app, [GH_READ, SLACK_READ, BACKGROUND], challenge=challenge, redirect_uri=callback
        )
    )
    page.wait_for_url(f"{callback}*")
    assert len(visits) == 2
    assert AuditEvent.objects.filter(action=Action.CONSENT_SHOWN).count() == shown
    again = exchange(base, app, code_from(visits[-1]), verifier, callback)
    assert set(again["scope"].split()) == {GH_READ, SLACK_READ}

    # 3. Adding a write scope shows only the delta.
    verifier, challenge = pkce_pair()
    page.goto(
        base
        + authorize_url(
            app, [GH_READ, SLACK_READ, GH_WRITE], challenge=challenge, redirect_uri=callback
        )
    )
    page.wait_for_selector("#consent-form")
    assert page.is_visible("text=asks for more access")
    assert page.get_attribute(f'[data-scope="{GH_WRITE}"]', "data-outcome") == "new"
    assert page.get_attribute(f'[data-scope="{GH_READ}"]', "data-outcome") == "granted"
    assert page.get_attribute(f'[data-scope="{SLACK_READ}"]', "data-outcome") == "granted"
    assert page.locator(f'input[name="resource:{GH_READ}"]').count() == 0
    assert page.locator(f'input[name="resource:{SLACK_READ}"]').count() == 0
    assert page.locator(".badge.write").count() == 1
    shot(page, "consent-07-delta-write")
    page.check(f'input[name="resource:{GH_WRITE}"][value="octo-demo/docs"]')
    page.click("#approve")
    page.wait_for_url(f"{callback}*")
    third = exchange(base, app, code_from(visits[-1]), verifier, callback)
    assert set(third["scope"].split()) == {GH_READ, SLACK_READ, GH_WRITE}
    grant.refresh_from_db()
    assert grant.scopes == [GH_READ, SLACK_READ, GH_WRITE]
    assert sorted(r["id"] for r in grant.resources[GH_READ]) == sorted(REPOS)
