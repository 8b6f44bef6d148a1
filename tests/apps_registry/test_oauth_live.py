"""A real OAuth client library nobody here wrote (authlib) against the platform over real HTTP:
discovery, authorization code with PKCE, refresh with rotation, revocation, introspection and
client credentials. The consent step is the interim authorization view (consent/views.py), which
approves with no screen when a live grant covers the request; nothing else is stubbed."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # noqa: F401 - authlib's own PKCE
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from oauth2_provider.models import AccessToken

from tests.apps_registry.helpers import BACKGROUND, PROFILE, register
from tests.factories import GrantFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True)]

CALLBACK = "http://127.0.0.1:8765/callback"


def signed_in_session(user) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


@pytest.fixture
def setup(live_server):
    app, secret = register(redirect_uris=[CALLBACK])
    person = UserFactory()
    GrantFactory(user=person, app=app, scopes=[PROFILE, BACKGROUND])
    metadata = requests.get(
        f"{live_server.url}/.well-known/oauth-authorization-server", timeout=10
    ).json()
    browser = requests.Session()
    browser.cookies.set(settings.SESSION_COOKIE_NAME, signed_in_session(person))
    return app, secret, person, metadata, browser


def authorization_code_flow(app, secret, metadata, browser, *, redirect_uri=CALLBACK):
    oauth = OAuth2Session(
        client_id=app.client.client_id,
        client_secret=secret,
        scope=PROFILE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = "v" * 20 + "-" + "x" * 40  # authlib computes the S256 challenge from it
    url, state = oauth.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier
    )
    assert "code_challenge_method=S256" in url
    response = browser.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:500]
    location = response.headers["Location"]
    assert location.startswith(redirect_uri)
    query = parse_qs(urlsplit(location).query)
    assert query["iss"] == [metadata["issuer"]]  # RFC 9207
    token = oauth.fetch_token(
        metadata["token_endpoint"],
        authorization_response=location,
        code_verifier=verifier,
        state=state,
    )
    return oauth, token


def test_authlib_walks_every_flow(setup):
    app, secret, person, metadata, browser = setup
    assert metadata["code_challenge_methods_supported"] == ["S256"]

    oauth, token = authorization_code_flow(app, secret, metadata, browser)
    assert token["token_type"] == "Bearer"
    assert token["scope"] == PROFILE
    assert token["refresh_token"]

    # Refresh with rotation: a new refresh token, the old one dead.
    new = oauth.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert new["refresh_token"] != token["refresh_token"]
    assert new["access_token"] != token["access_token"]

    # Introspection of the app's own token.
    response = oauth.introspect_token(metadata["introspection_endpoint"], token=new["access_token"])
    assert response.status_code == 200
    assert response.json()["active"] is True
    assert response.json()["sub"] == str(person.pk)

    # The rotated-away refresh token is refused and takes the family with it.
    stale = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(app.client.client_id, secret),
        timeout=10,
    )
    assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"
    response = oauth.introspect_token(metadata["introspection_endpoint"], token=new["access_token"])
    assert response.json() == {"active": False}

    # A fresh flow, then revocation through authlib.
    oauth, token = authorization_code_flow(app, secret, metadata, browser)
    response = oauth.revoke_token(
        metadata["revocation_endpoint"], token=token["access_token"], token_type_hint="access_token"
    )
    assert response.status_code == 200
    response = oauth.introspect_token(
        metadata["introspection_endpoint"], token=token["access_token"]
    )
    assert response.json() == {"active": False}

    # Client credentials.
    backend = OAuth2Session(client_id=app.client.client_id, client_secret=secret, scope=PROFILE)
    cc = backend.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert cc["access_token"] and "refresh_token" not in cc
    assert AccessToken.objects.filter(user__isnull=True, application=app.client).count() == 1


def test_authlib_native_client_on_an_ephemeral_loopback_port(setup):
    app, secret, _person, metadata, browser = setup
    _oauth, token = authorization_code_flow(
        app, secret, metadata, browser, redirect_uri="http://127.0.0.1:54321/callback"
    )
    assert token["access_token"]
