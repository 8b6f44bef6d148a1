"""The authorization server's rules, through Django's test client: every refusal is an RFC 6749
error and changes nothing (no code, no token), except where the RFC says to revoke."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, RefreshToken

from apps_registry.oauth import checksum
from audit.actions import Action
from audit.models import AuditEvent
from tests.apps_registry.helpers import (
    BACKGROUND,
    GITHUB,
    INTROSPECT_URL,
    PROFILE,
    REDIRECT,
    REVOKE_URL,
    TOKEN_URL,
    authorize,
    basic,
    exchange,
    get_code,
    pkce_pair,
    redirect_params,
    register,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def app_secret():
    return register()


@pytest.fixture
def person():
    return UserFactory()


def counts():
    return (Grant.objects.count(), AccessToken.objects.count(), RefreshToken.objects.count())


def error_of(response):
    body = response.json()
    assert set(body) <= {"error", "error_description", "error_uri", "state"}, body
    assert response["Cache-Control"] == "no-store"
    return body["error"]


# ---- the happy path -----------------------------------------------------------------------------
def test_code_with_pkce_gives_hashed_tokens(client, app_secret, person):
    app, secret = app_secret
    code, verifier = get_code(client, app, person)
    response = exchange(client, app, secret, code, verifier)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == PROFILE
    assert 0 < body["expires_in"] <= 600
    assert response["Cache-Control"] == "no-store"
    access = AccessToken.objects.get()
    assert access.token == ""  # stored as a checksum only
    assert access.token_checksum == checksum(body["access_token"])
    refresh = RefreshToken.objects.get()
    assert refresh.token == "" and refresh.token_checksum == checksum(body["refresh_token"])
    assert not Grant.objects.exists()  # the code is gone
    # Both values are apps_registry.oauth_tokens': 256 random bits, URL-safe base64.
    for value in (body["access_token"], body["refresh_token"]):
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value), value


def test_client_secret_is_stored_with_the_fast_hasher_and_people_keep_pbkdf2(app_secret):
    app, secret = app_secret
    app.client.refresh_from_db()
    assert app.client.client_secret.startswith("client_secret_hmac_sha256$")
    assert secret not in app.client.client_secret
    assert len(secret) >= 64
    person = UserFactory()
    assert person.password.startswith("pbkdf2_sha256$")


# ---- PKCE ---------------------------------------------------------------------------------------
def test_missing_verifier_is_refused_and_the_code_still_works(client, app_secret, person):
    app, secret = app_secret
    code, verifier = get_code(client, app, person)
    before = counts()
    response = exchange(client, app, secret, code, None)
    assert response.status_code == 400
    assert error_of(response) == "invalid_request"
    assert counts() == before
    assert exchange(client, app, secret, code, verifier).status_code == 200


def test_wrong_verifier_is_invalid_grant(client, app_secret, person):
    app, secret = app_secret
    code, _verifier = get_code(client, app, person)
    other_verifier, _ = pkce_pair()
    before = counts()
    response = exchange(client, app, secret, code, other_verifier)
    assert response.status_code == 400
    assert error_of(response) == "invalid_grant"
    assert counts() == before


@pytest.mark.parametrize(
    ("challenge", "method"),
    [
        ("a" * 43, "plain"),  # plain is refused
        ("a" * 43, None),  # no method means plain (RFC 7636 4.3)
        ("short", "S256"),  # malformed challenge
        (None, None),  # no PKCE at all
    ],
)
def test_authorization_without_s256_pkce_is_refused(client, app_secret, person, challenge, method):
    app, _secret = app_secret
    response = authorize(client, app, person, challenge=challenge, method=method)
    params = redirect_params(response)
    assert response["Location"].startswith(REDIRECT + "?")
    assert params["error"] == "invalid_request"
    assert params["state"] == "xyz"
    assert "code" not in params
    assert not Grant.objects.exists()


# ---- redirect URIs ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://app.example.com/callback/extra",  # a path segment
        "https://app.example.com/callback?next=/",  # a query string
        "https://app.example.com/callback/",  # a trailing slash
        "https://app.example.com/Callback",
        "https://app.example.com:8443/callback",
        "http://app.example.com/callback",
        "https://evil.example.com/callback",
        "https://app.example.com/callback#frag",
    ],
)
def test_redirect_uri_must_match_exactly(client, app_secret, person, redirect_uri):
    app, _secret = app_secret
    _verifier, challenge = pkce_pair()
    response = authorize(client, app, person, challenge=challenge, redirect_uri=redirect_uri)
    # RFC 6749 4.1.2.1: never redirect to an unregistered URI; tell the person instead.
    assert response.status_code != 302 or not response["Location"].startswith(redirect_uri)
    assert response.status_code == 400
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    ("registered", "requested", "ok"),
    [
        ("http://127.0.0.1:8765/callback", "http://127.0.0.1:51234/callback", True),
        ("http://127.0.0.1/callback", "http://127.0.0.1:9000/callback", True),
        ("http://[::1]:8765/callback", "http://[::1]:40000/callback", True),
        ("http://127.0.0.1:8765/callback", "http://127.0.0.1:51234/other", False),
        ("http://127.0.0.1:8765/callback", "http://127.0.0.2:8765/callback", False),
        ("http://127.0.0.1:8765/callback", "https://127.0.0.1:8765/callback", False),
    ],
)
def test_loopback_redirect_uris_take_any_port(client, person, registered, requested, ok):
    app, _secret = register(redirect_uris=[registered], client_type="public")
    verifier, challenge = pkce_pair()
    response = authorize(client, app, person, challenge=challenge, redirect_uri=requested)
    if not ok:
        assert response.status_code == 400
        assert not Grant.objects.exists()
        return
    params = redirect_params(response)
    assert response["Location"].startswith(requested)
    token = client.post(
        TOKEN_URL,
        {
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": requested,
            "client_id": app.client.client_id,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.content


def test_token_request_redirect_uri_must_equal_the_authorization_requests(
    client, app_secret, person
):
    app, secret = app_secret
    code, verifier = get_code(client, app, person)
    before = counts()
    response = exchange(client, app, secret, code, verifier, redirect_uri=REDIRECT + "/")
    assert error_of(response) in {"invalid_grant", "invalid_request"}
    assert counts() == before


# ---- scopes -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "scope",
    [
        "services.slack.messages.write",  # in the catalog, not registered for this app
        "services.github.repositories.admin",  # not in the catalog at all
        f"{PROFILE} admin",
    ],
)
def test_unregistered_scope_is_invalid_scope(client, app_secret, person, scope):
    app, _secret = app_secret
    _verifier, challenge = pkce_pair()
    response = authorize(
        client, app, person, challenge=challenge, scope=scope, grant_scopes=[PROFILE]
    )
    params = redirect_params(response)
    assert params["error"] == "invalid_scope"
    assert not Grant.objects.exists()


def test_background_scope_needs_background_allowance(client, person):
    app, secret = register(scopes={PROFILE: True}, background=False)
    from apps_registry.models import AppScope

    AppScope.objects.create(app=app, scope=BACKGROUND, required=False)  # bypassing the service
    response = client.post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "scope": BACKGROUND},
        HTTP_AUTHORIZATION=basic(app.client.client_id, secret),
    )
    assert error_of(response) == "invalid_scope"
    assert not AccessToken.objects.exists()


# ---- client credentials -------------------------------------------------------------------------
def test_client_credentials_for_a_confidential_client(client, app_secret):
    app, secret = app_secret
    response = client.post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "scope": PROFILE},
        HTTP_AUTHORIZATION=basic(app.client.client_id, secret),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert "refresh_token" not in body
    assert AccessToken.objects.get().user is None


@pytest.mark.django_db(transaction=True)
def test_a_client_credentials_grant_is_the_client_read_one_insert_and_its_event(client):
    """Counts, not times (docs/performance.md): no transaction around the token's INSERT; its
    event is recorded right after it."""
    app, secret = register()
    auth = basic(app.client.client_id, secret)
    data = {"grant_type": "client_credentials", "scope": PROFILE}
    client.post(TOKEN_URL, data, HTTP_AUTHORIZATION=auth)  # warm: settings, caches
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(TOKEN_URL, data, HTTP_AUTHORIZATION=auth)
    assert response.status_code == 200, response.content
    statements = [q["sql"].split()[0].upper() for q in ctx.captured_queries]
    inserted = statements.index("INSERT")
    assert statements[:inserted] == ["SELECT"]  # the client, its app and scopes
    assert "oauth2_provider_accesstoken" in ctx.captured_queries[inserted]["sql"]
    assert AuditEvent.objects.filter(action=Action.TOKEN_ISSUED).count() == 2
    if connection.vendor == "postgresql":
        assert len(statements) == 3  # ... and the audit append, one statement


def test_client_credentials_with_unpermitted_scope_is_invalid_scope(client, app_secret):
    app, secret = app_secret
    response = client.post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "scope": "services.slack.messages.write"},
        HTTP_AUTHORIZATION=basic(app.client.client_id, secret),
    )
    assert response.status_code == 400
    assert error_of(response) == "invalid_scope"
    assert not AccessToken.objects.exists()


def test_public_client_cannot_use_client_credentials(client):
    app, _secret = register(client_type="public")
    for data in (
        {"grant_type": "client_credentials", "client_id": app.client.client_id},
        {
            "grant_type": "client_credentials",
            "client_id": app.client.client_id,
            "client_secret": "",
        },
    ):
        response = client.post(TOKEN_URL, data)
        assert error_of(response) in {"invalid_client", "unauthorized_client"}
        assert response.status_code in {400, 401}
    assert not AccessToken.objects.exists()


def test_confidential_client_without_the_allowance_is_unauthorized(client):
    app, secret = register(allow_client_credentials=False)
    response = client.post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "scope": PROFILE},
        HTTP_AUTHORIZATION=basic(app.client.client_id, secret),
    )
    assert error_of(response) == "unauthorized_client"
    assert not AccessToken.objects.exists()


# ---- client authentication ----------------------------------------------------------------------
def test_wrong_secret_with_basic_is_401_with_a_basic_challenge(client, app_secret):
    app, _secret = app_secret
    response = client.post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "scope": PROFILE},
        HTTP_AUTHORIZATION=basic(app.client.client_id, "wrong"),
    )
    assert response.status_code == 401
    assert error_of(response) == "invalid_client"
    assert response["WWW-Authenticate"].startswith("Basic")
    assert not AccessToken.objects.exists()


def test_secret_in_the_body_works_but_two_methods_at_once_do_not(client, app_secret):
    app, secret = app_secret
    body = {
        "grant_type": "client_credentials",
        "scope": PROFILE,
        "client_id": app.client.client_id,
        "client_secret": secret,
    }
    assert client.post(TOKEN_URL, body).status_code == 200
    response = client.post(TOKEN_URL, body, HTTP_AUTHORIZATION=basic(app.client.client_id, secret))
    assert error_of(response) == "invalid_client"
    assert AccessToken.objects.count() == 1


def test_basic_credentials_are_form_urlencoded(client):
    # RFC 6749 2.3.1: client_id and secret are form-urlencoded inside the Basic header.
    app, secret = register()
    from urllib.parse import quote_plus

    response = client.post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "scope": PROFILE},
        HTTP_AUTHORIZATION=basic(quote_plus(app.client.client_id), quote_plus(secret)),
    )
    assert response.status_code == 200


# ---- refresh rotation and reuse -----------------------------------------------------------------
def _tokens(client, app, secret, person):
    code, verifier = get_code(client, app, person)
    return exchange(client, app, secret, code, verifier).json()


def _refresh(client, app, secret, refresh_token):
    return client.post(
        TOKEN_URL,
        {"grant_type": "refresh_token", "refresh_token": refresh_token},
        HTTP_AUTHORIZATION=basic(app.client.client_id, secret),
    )


def test_refresh_rotates_and_reuse_revokes_the_family(client, app_secret, person):
    app, secret = app_secret
    first = _tokens(client, app, secret, person)
    second = _refresh(client, app, secret, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    third = _refresh(client, app, secret, second["refresh_token"]).json()
    assert "access_token" in third

    replay = _refresh(client, app, secret, first["refresh_token"])
    assert replay.status_code == 400
    assert error_of(replay) == "invalid_grant"
    # The whole family is gone: the newest refresh token no longer works, nor its access token.
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert not AccessToken.objects.exists()
    assert error_of(_refresh(client, app, secret, third["refresh_token"])) == "invalid_grant"
    assert AuditEvent.objects.filter(action=Action.TOKEN_REUSE_DETECTED, app=app).exists()


def test_a_rotation_spends_the_token_and_issues_one_pair_in_its_family(client, app_secret, person):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    app, secret = app_secret
    first = _tokens(client, app, secret, person)
    spent = RefreshToken.objects.get(token_checksum=checksum(first["refresh_token"]))
    old_access_id = spent.access_token_id
    with CaptureQueriesContext(connection) as captured:
        second = _refresh(client, app, secret, first["refresh_token"]).json()
    spent.refresh_from_db()
    assert spent.revoked is not None and spent.access_token_id is None
    assert not AccessToken.objects.filter(pk=old_access_id).exists()
    new = RefreshToken.objects.get(token_checksum=checksum(second["refresh_token"]))
    assert new.revoked is None and new.token_family == spent.token_family
    assert new.access_token.source_refresh_token_id == spent.pk
    assert AccessToken.objects.get().pk == new.access_token_id
    # Read once at validation, spent (and its access token let go) by one UPDATE, the new one
    # inserted: DOT's own rotation also locks, re-reads and saves it, and its deletion of the
    # access token clears the pointer a second time.
    touching = [q for q in captured.captured_queries if "oauth2_provider_refreshtoken" in q["sql"]]
    assert len(touching) == 3
    deleting = [q for q in captured.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deleting) == 1 and "oauth2_provider_accesstoken" in deleting[0]["sql"]


def test_a_token_rotated_between_validation_and_issue_is_reuse(
    client, app_secret, person, monkeypatch
):
    from apps_registry.oauth_refresh import RefreshTokenRotation

    app, secret = app_secret
    first = _tokens(client, app, secret, person)
    validate = RefreshTokenRotation.validate_refresh_token

    def rotated_meanwhile(self, refresh_token, *args, **kwargs):
        valid = validate(self, refresh_token, *args, **kwargs)
        # A concurrent request spends it after this one validated it (and commits first).
        RefreshToken.objects.filter(token_checksum=checksum(refresh_token)).update(
            revoked=timezone.now()
        )
        return valid

    monkeypatch.setattr(RefreshTokenRotation, "validate_refresh_token", rotated_meanwhile)
    response = _refresh(client, app, secret, first["refresh_token"])
    assert response.status_code == 400 and error_of(response) == "invalid_grant"
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert not AccessToken.objects.exists()  # the family is revoked
    assert AuditEvent.objects.filter(action=Action.TOKEN_REUSE_DETECTED, app=app).exists()


def test_another_clients_refresh_token_is_refused_without_touching_it(client, person):
    app, secret = register()
    other, other_secret = register(name="Other")
    tokens = _tokens(client, app, secret, person)
    response = _refresh(client, other, other_secret, tokens["refresh_token"])
    assert error_of(response) == "invalid_grant"
    assert _refresh(client, app, secret, tokens["refresh_token"]).status_code == 200


# ---- codes: expiry and replay ---------------------------------------------------------------------
def test_expired_code_is_invalid_grant(client, app_secret, person):
    app, secret = app_secret
    code, verifier = get_code(client, app, person)
    Grant.objects.update(expires=timezone.now() - timedelta(seconds=1))
    response = exchange(client, app, secret, code, verifier)
    assert error_of(response) == "invalid_grant"
    assert not AccessToken.objects.exists() and not RefreshToken.objects.exists()


def test_code_used_twice_fails_and_revokes_what_it_issued(client, app_secret, person):
    app, secret = app_secret
    code, verifier = get_code(client, app, person)
    first = exchange(client, app, secret, code, verifier).json()
    refreshed = _refresh(client, app, secret, first["refresh_token"]).json()
    replay = exchange(client, app, secret, code, verifier)
    assert replay.status_code == 400
    assert error_of(replay) == "invalid_grant"
    assert not AccessToken.objects.exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert error_of(_refresh(client, app, secret, refreshed["refresh_token"])) == "invalid_grant"
    assert AuditEvent.objects.filter(action=Action.TOKEN_REVOKED, app=app).exists()


def test_a_code_from_another_client_is_refused(client, person):
    app, secret = register()
    other, other_secret = register(name="Other")
    code, verifier = get_code(client, app, person)
    response = exchange(client, other, other_secret, code, verifier)
    assert error_of(response) == "invalid_grant"
    assert exchange(client, app, secret, code, verifier).status_code == 200


# ---- suspension ---------------------------------------------------------------------------------
def test_suspended_app_loses_every_token_and_gets_no_new_ones(client, app_secret, person):
    from apps_registry.services import app_suspend

    app, secret = app_secret
    tokens = _tokens(client, app, secret, person)
    code, verifier = get_code(client, app, person)  # a code issued before the suspension
    staff = UserFactory(is_staff=True)
    app_suspend(app=app, actor=staff, reason="Sent spam from users' accounts.")
    assert not AccessToken.objects.exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()

    assert error_of(_refresh(client, app, secret, tokens["refresh_token"])) == "invalid_client"
    assert error_of(exchange(client, app, secret, code, verifier)) == "invalid_client"
    cc = client.post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "scope": PROFILE},
        HTTP_AUTHORIZATION=basic(app.client.client_id, secret),
    )
    assert cc.status_code == 401 and error_of(cc) == "invalid_client"
    _v, challenge = pkce_pair()
    response = authorize(client, app, person, challenge=challenge)
    assert response.status_code in {400, 403}  # a page, no redirect, no code
    assert "Location" not in response
    assert not AccessToken.objects.exists()
    assert AuditEvent.objects.filter(action=Action.APP_SUSPENDED, app=app).exists()


# ---- grant types that do not exist here ---------------------------------------------------------
def test_implicit_is_refused(client, app_secret, person):
    app, _secret = app_secret
    _v, challenge = pkce_pair()
    response = authorize(client, app, person, challenge=challenge, extra={"response_type": "token"})
    params = redirect_params(response)
    assert params["error"] in {"unsupported_response_type", "unauthorized_client"}
    assert "access_token" not in response["Location"]
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(
    "grant_type",
    ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code", "made_up"],
)
def test_other_grant_types_are_unsupported(client, app_secret, person, grant_type):
    app, secret = app_secret
    response = client.post(
        TOKEN_URL,
        {"grant_type": grant_type, "username": person.email, "password": "x", "device_code": "x"},
        HTTP_AUTHORIZATION=basic(app.client.client_id, secret),
    )
    assert response.status_code == 400
    assert error_of(response) == "unsupported_grant_type"


# ---- parsing and error shapes -------------------------------------------------------------------
def test_token_endpoint_is_post_only(client):
    response = client.get(TOKEN_URL + "?grant_type=client_credentials")
    assert response.status_code == 405
    assert error_of(response) == "invalid_request"
    assert response["Allow"] == "POST"


def test_repeated_parameter_is_invalid_request(client, app_secret, person):
    app, secret = app_secret
    code, verifier = get_code(client, app, person)
    response = client.post(
        TOKEN_URL,
        f"grant_type=authorization_code&code={code}&code_verifier={verifier}"
        f"&redirect_uri={REDIRECT}&scope={PROFILE}&scope={GITHUB}",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic(app.client.client_id, secret),
    )
    assert error_of(response) == "invalid_request"
    assert not AccessToken.objects.exists()
    assert exchange(client, app, secret, code, verifier).status_code == 200


def test_credentials_in_the_query_string_are_refused(client, app_secret):
    app, secret = app_secret
    response = client.post(
        f"{TOKEN_URL}?client_id={app.client.client_id}&client_secret={secret}",
        {"grant_type": "client_credentials", "scope": PROFILE},
    )
    assert error_of(response) in {"invalid_request", "invalid_client"}
    assert not AccessToken.objects.exists()


def test_missing_grant_type_is_invalid_request(client):
    assert error_of(client.post(TOKEN_URL, {})) == "invalid_request"


# ---- revocation (RFC 7009) ----------------------------------------------------------------------
def test_revocation_of_own_tokens_and_not_of_others(client, person):
    app, secret = register()
    other, other_secret = register(name="Other")
    tokens = _tokens(client, app, secret, person)
    # Another client: 200 (RFC 7009 2.2 discloses nothing) but nothing is revoked.
    response = client.post(
        REVOKE_URL,
        {"token": tokens["access_token"]},
        HTTP_AUTHORIZATION=basic(other.client.client_id, other_secret),
    )
    assert response.status_code == 200
    assert AccessToken.objects.count() == 1
    response = client.post(
        REVOKE_URL,
        {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        HTTP_AUTHORIZATION=basic(app.client.client_id, secret),
    )
    assert response.status_code == 200
    assert not AccessToken.objects.exists()
    assert error_of(_refresh(client, app, secret, tokens["refresh_token"])) == "invalid_grant"


def test_revocation_needs_client_authentication_and_a_token(client, app_secret):
    app, secret = app_secret
    response = client.post(
        REVOKE_URL, {"token": "x"}, HTTP_AUTHORIZATION=basic(app.client.client_id, "wrong")
    )
    assert response.status_code == 401
    assert error_of(response) == "invalid_client"
    response = client.post(REVOKE_URL, {}, HTTP_AUTHORIZATION=basic(app.client.client_id, secret))
    assert error_of(response) == "invalid_request"
    assert client.get(REVOKE_URL).status_code == 405


# ---- introspection (RFC 7662) -------------------------------------------------------------------
def _introspect(client, app, secret, token, **extra):
    return client.post(
        INTROSPECT_URL,
        {"token": token, **extra},
        HTTP_AUTHORIZATION=basic(app.client.client_id, secret),
    )


def test_introspection_answers_about_own_tokens_only(client, person):
    app, secret = register()
    other, other_secret = register(name="Other")
    tokens = _tokens(client, app, secret, person)
    body = _introspect(client, app, secret, tokens["access_token"]).json()
    assert body["active"] is True
    assert body["client_id"] == app.client.client_id
    assert body["scope"] == PROFILE
    assert body["sub"] == str(person.pk)
    assert body["exp"] > body["iat"]
    refresh = _introspect(
        client, app, secret, tokens["refresh_token"], token_type_hint="refresh_token"
    ).json()
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"
    assert _introspect(client, other, other_secret, tokens["access_token"]).json() == {
        "active": False
    }
    assert _introspect(client, app, secret, "no-such-token").json() == {"active": False}


def test_introspection_of_expired_and_revoked_tokens_is_inactive(client, app_secret, person):
    app, secret = app_secret
    tokens = _tokens(client, app, secret, person)
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert _introspect(client, app, secret, tokens["access_token"]).json() == {"active": False}
    client.post(
        REVOKE_URL,
        {"token": tokens["refresh_token"]},
        HTTP_AUTHORIZATION=basic(app.client.client_id, secret),
    )
    assert _introspect(client, app, secret, tokens["refresh_token"]).json() == {"active": False}


def test_introspection_refuses_unauthenticated_callers_and_get(client, app_secret, person):
    app, secret = app_secret
    tokens = _tokens(client, app, secret, person)
    response = client.post(INTROSPECT_URL, {"token": tokens["access_token"]})
    assert response.status_code == 401
    assert error_of(response) == "invalid_client"
    response = _introspect(client, app, "wrong", tokens["access_token"])
    assert response.status_code == 401
    # A bearer token is not client authentication (DOT's default view accepts one).
    response = client.post(
        INTROSPECT_URL,
        {"token": tokens["access_token"]},
        HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}",
    )
    assert response.status_code == 401
    response = client.get(
        INTROSPECT_URL + f"?token={tokens['access_token']}",
        HTTP_AUTHORIZATION=basic(app.client.client_id, secret),
    )
    assert response.status_code == 405
    response = client.post(
        INTROSPECT_URL, {}, HTTP_AUTHORIZATION=basic(app.client.client_id, secret)
    )
    assert error_of(response) == "invalid_request"


# ---- metadata (RFC 8414) --------------------------------------------------------------------------
def test_metadata_advertises_only_what_is_enforced(client):
    body = client.get("/.well-known/oauth-authorization-server").json()
    assert body["issuer"].startswith("http://testserver")
    assert body["authorization_endpoint"].endswith("/oauth/authorize/")
    assert body["token_endpoint"].endswith("/oauth/token/")
    assert body["revocation_endpoint"].endswith("/oauth/revoke_token/")
    assert body["introspection_endpoint"].endswith("/oauth/introspect/")
    assert body["response_types_supported"] == ["code"]
    assert set(body["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
    }
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert PROFILE in body["scopes_supported"]
    assert "client_secret_basic" in body["token_endpoint_auth_methods_supported"]
    assert body.get("authorization_response_iss_parameter_supported") is True


@pytest.mark.parametrize(
    "header",
    ["Basic !!!not-base64!!!", "Basic " + "bm9jb2xvbg==", "Basic "],  # "nocolon"
)
def test_malformed_basic_credentials_are_invalid_client(client, app_secret, header):
    response = client.post(
        TOKEN_URL, {"grant_type": "client_credentials", "scope": PROFILE}, HTTP_AUTHORIZATION=header
    )
    assert response.status_code == 401
    assert error_of(response) == "invalid_client"
    assert not AccessToken.objects.exists()


def test_confidential_client_must_authenticate_for_the_code_exchange(client, app_secret, person):
    app, secret = app_secret
    code, verifier = get_code(client, app, person)
    response = client.post(
        TOKEN_URL,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": app.client.client_id,
        },
    )
    assert error_of(response) == "invalid_client"
    assert counts()[1:] == (0, 0)
    assert exchange(client, app, secret, code, verifier).status_code == 200
