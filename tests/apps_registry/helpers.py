"""Shared helpers for the apps registry tests: register apps, run PKCE, read errors."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from apps_registry.services import app_register
from tests.factories import GrantFactory, UserFactory

REDIRECT = "https://app.example.com/callback"
# A scope that needs no connected service, so the consent step has nothing to ask.
PROFILE = "identity.profile.read"
GITHUB = "services.github.repositories.read"

BACKGROUND = "agents.jobs.background"
TOKEN_URL = "/oauth/token/"
REVOKE_URL = "/oauth/revoke_token/"
INTROSPECT_URL = "/oauth/introspect/"


def register(
    *,
    owner=None,
    client_type="confidential",
    redirect_uris=(REDIRECT,),
    scopes=None,
    allow_client_credentials=True,
    background=True,
    name="Acme Notes",
):
    owner = owner or UserFactory()
    scopes = scopes if scopes is not None else {PROFILE: True, GITHUB: False, BACKGROUND: False}
    reg = app_register(
        owner=owner,
        name=name,
        client_type=client_type,
        redirect_uris=list(redirect_uris),
        scopes=scopes,
        allow_client_credentials=allow_client_credentials and client_type == "confidential",
        may_request_background=background,
    )
    return reg.app, reg.client_secret


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode()


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def authorize(
    client,
    app,
    user,
    *,
    scope=PROFILE,
    redirect_uri=REDIRECT,
    challenge=None,
    method="S256",
    grant_scopes=None,
    extra=None,
):
    """Sign ``user`` in, make sure a live grant covers ``scope``, ask for a code.
    Returns the response (a redirect)."""
    from consent.models import Grant

    if not Grant.objects.filter(user=user, app=app).exists():
        # Background access in the grant, so that the code exchange also issues a refresh token.
        GrantFactory(user=user, app=app, scopes=grant_scopes or [*scope.split(), BACKGROUND])
    client.force_login(user)
    params = {
        "response_type": "code",
        "client_id": app.client.client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": "xyz",
    }
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None and challenge is not None:
        params["code_challenge_method"] = method
    params.update(extra or {})
    return client.get("/oauth/authorize/?" + urlencode(params))


def redirect_params(response) -> dict[str, str]:
    assert response.status_code == 302, response.content[:500]
    query = parse_qs(urlsplit(response["Location"]).query)
    return {k: v[0] for k, v in query.items()}


def get_code(client, app, user, **kwargs) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    params = redirect_params(authorize(client, app, user, challenge=challenge, **kwargs))
    assert "code" in params, params
    return params["code"], verifier


def exchange(client, app, secret, code, verifier, *, redirect_uri=REDIRECT):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    return client.post(TOKEN_URL, data, HTTP_AUTHORIZATION=basic(app.client.client_id, secret))
