"""Helpers for the consent tests: an app, PKCE, the authorization request, the token exchange."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from consent import selectors
from tests.factories import AppFactory, ConnectionFactory

REDIRECT = "https://app.example.com/callback"
SECRET = "test-client-secret-0123456789abcdef"
GH_READ = "services.github.repositories.read"
GH_WRITE = "services.github.repositories.write"
SLACK_READ = "services.slack.channels.read"
SLACK_WRITE = "services.slack.messages.write"
PROFILE = "identity.profile.read"
BACKGROUND = "agents.jobs.background"
UNATTENDED = "agents.actions.unattended_writes"

REPOS = [{"id": f"octo/repo{i}", "label": f"octo/repo{i}"} for i in range(1, 4)]
CHANNELS = [{"id": "C01GENERAL", "label": "#general"}, {"id": "C02RANDOM", "label": "#random"}]


def make_app(scopes, **kwargs):
    """``scopes``: list (all required) or dict scope -> required."""
    return AppFactory(scopes=scopes, **kwargs)


def github(user, scopes=("repo", "read:user"), **kwargs):
    return ConnectionFactory(user=user, provider="sandbox_github", scopes=list(scopes), **kwargs)


def slack(user, scopes=("channels:read", "channels:history"), **kwargs):
    return ConnectionFactory(
        user=user, provider="sandbox_slack", scopes=list(scopes), login="team", **kwargs
    )


def fake_resources(monkeypatch, listing=None):
    """Replace the provider listing with fixed data (per kind), counting calls."""
    listing = listing or {"repository": REPOS, "channel": CHANNELS}
    calls = []

    def fake(connection, kind):
        calls.append((connection.pk, kind))
        return selectors.ResourceListing(tuple(listing.get(kind, ())))

    monkeypatch.setattr(selectors, "list_resources", fake)
    return calls


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(app, scopes, *, challenge, state="st-1", redirect_uri=REDIRECT, **extra):
    params = {
        "response_type": "code",
        "client_id": app.client.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    return params


def authorize_url(app, scopes, *, challenge, **extra) -> str:
    return "/oauth/authorize/?" + urlencode(
        authorize_params(app, scopes, challenge=challenge, **extra)
    )


def rid_of(response) -> str:
    match = re.search(r'name="request" value="([^"]+)"', response.content.decode())
    assert match, "the consent form carries the request id"
    return match.group(1)


def query_of(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def approve(client, response, *, accept=(), resources=None, duration="forever", extra=None):
    data = {"request": rid_of(response), "action": "approve", "duration": duration}
    data["accept"] = list(accept)
    for scope, ids in (resources or {}).items():
        data[f"resource:{scope}"] = list(ids)
    data.update(extra or {})
    return client.post("/oauth/authorize/", data)


def exchange(client, app, code, verifier):
    return client.post(
        "/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        HTTP_AUTHORIZATION="Basic "
        + base64.b64encode(f"{app.client.client_id}:{SECRET}".encode()).decode(),
    )


def refresh(client, app, refresh_token, scope=None):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if scope:
        data["scope"] = scope
    return client.post(
        "/oauth/token/",
        data,
        HTTP_AUTHORIZATION="Basic "
        + base64.b64encode(f"{app.client.client_id}:{SECRET}".encode()).decode(),
    )
