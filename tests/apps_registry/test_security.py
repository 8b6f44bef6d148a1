"""Issue 12, the authorization server's part: each test performs the attack or the bad input
and shows it fails with nothing changed (no token issued, no row written)."""

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from oauth2_provider.models import AccessToken, Grant, RefreshToken

from apps_registry.models import CodeWithoutRedirectUri
from apps_registry.services import RegistryError, app_add_redirect_uri, app_update
from audit.models import AuditEvent
from tests.apps_registry.helpers import (
    PROFILE,
    REDIRECT,
    TOKEN_URL,
    authorize,
    basic,
    exchange,
    get_code,
    pkce_pair,
    register,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
CC = {"grant_type": "client_credentials", "scope": PROFILE}


@pytest.fixture(autouse=True)
def _fresh_counters(monkeypatch):
    from apps_registry import ratelimit

    monkeypatch.setattr(ratelimit.limiter, "prefix", f"test-sec-{uuid.uuid4().hex}")


def counts():
    return (Grant.objects.count(), AccessToken.objects.count(), RefreshToken.objects.count())


# ---- item 1: wrong secrets cannot lock the real client out ------------------------------------
def test_wrong_secrets_do_not_spend_the_real_clients_budget(client, settings):
    settings.OAUTH_RATE_LIMIT_PER_CLIENT = 3
    settings.OAUTH_RATE_LIMIT_FAILED_AUTH = 5
    settings.OAUTH_RATE_LIMIT_WINDOW_SECONDS = 3600
    app, secret = register()
    wrong = basic(app.client.client_id, "x" * 40)
    attacker = "203.0.113.66"
    statuses = [
        client.post(TOKEN_URL, CC, HTTP_AUTHORIZATION=wrong, REMOTE_ADDR=attacker).status_code
        for _ in range(20)
    ]
    # The guesses are refused (401), then the guesser is slowed down (429), never a token.
    assert set(statuses[:5]) == {401} and set(statuses[5:]) == {429}
    assert AccessToken.objects.count() == 0
    # The real app, from its own address, still has its whole budget.
    right = basic(app.client.client_id, secret)
    real = [
        client.post(TOKEN_URL, CC, HTTP_AUTHORIZATION=right, REMOTE_ADDR="198.51.100.1")
        for _ in range(4)
    ]
    assert [r.status_code for r in real] == [200, 200, 200, 429]
    assert real[3]["Retry-After"] and real[3].json()["error"] == "temporarily_unavailable"
    assert AccessToken.objects.count() == 3


def test_a_guessers_address_is_refused_even_with_the_right_secret(client, settings):
    settings.OAUTH_RATE_LIMIT_FAILED_AUTH = 2
    settings.OAUTH_RATE_LIMIT_WINDOW_SECONDS = 3600
    app, secret = register()
    ip = "203.0.113.67"
    for _ in range(2):
        client.post(
            TOKEN_URL, CC, HTTP_AUTHORIZATION=basic(app.client.client_id, "bad"), REMOTE_ADDR=ip
        )
    response = client.post(
        TOKEN_URL, CC, HTTP_AUTHORIZATION=basic(app.client.client_id, secret), REMOTE_ADDR=ip
    )
    assert response.status_code == 429
    assert AccessToken.objects.count() == 0


def test_requests_naming_a_public_client_count_per_address(client, settings):
    settings.OAUTH_RATE_LIMIT_PER_CLIENT = 2
    settings.OAUTH_RATE_LIMIT_WINDOW_SECONDS = 3600
    app, _ = register(client_type="public", allow_client_credentials=False)
    data = {"grant_type": "authorization_code", "code": "nope", "client_id": app.client.client_id,
            "redirect_uri": REDIRECT, "code_verifier": "v" * 43}  # fmt: skip
    for _ in range(5):
        client.post(TOKEN_URL, data, REMOTE_ADDR="203.0.113.68")
    assert client.post(TOKEN_URL, data, REMOTE_ADDR="203.0.113.68").status_code == 429
    # The real app elsewhere is not starved.
    assert client.post(TOKEN_URL, data, REMOTE_ADDR="198.51.100.2").status_code == 400


# ---- item 2: X-Forwarded-For only from trusted proxies ------------------------------------------
def test_forwarded_for_from_an_untrusted_peer_does_not_escape_the_ip_limit(client, settings):
    settings.OAUTH_RATE_LIMIT_PER_IP = 2
    settings.OAUTH_RATE_LIMIT_WINDOW_SECONDS = 3600
    settings.TRUSTED_PROXIES = ("10.0.0.0/8",)
    ip = "203.0.113.70"
    for n in range(2):
        client.post(TOKEN_URL, {}, REMOTE_ADDR=ip, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    # Rotating the header from a direct (untrusted) caller does not give a fresh bucket.
    response = client.post(TOKEN_URL, {}, REMOTE_ADDR=ip, HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert response.status_code == 429


def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(client, settings):
    settings.OAUTH_RATE_LIMIT_PER_IP = 1
    settings.OAUTH_RATE_LIMIT_WINDOW_SECONDS = 3600
    settings.TRUSTED_PROXIES = ("10.0.0.0/8",)
    proxy = "10.1.2.3"
    first = client.post(TOKEN_URL, {}, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="192.0.2.1")
    second = client.post(TOKEN_URL, {}, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="192.0.2.2")
    assert first.status_code != 429 and second.status_code != 429
    # A client prepending a made-up hop does not escape: the proxy's own entry is the rightmost.
    spoof = client.post(
        TOKEN_URL, {}, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.9, 192.0.2.1"
    )
    assert spoof.status_code == 429


# ---- item 12: RFC 9207 iss on errors; redirect_uri at the token endpoint -----------------------
def test_error_redirects_carry_the_issuer(client):
    app, _ = register()
    person = UserFactory()
    response = authorize(client, app, person, challenge=None)  # no PKCE: an error redirect
    assert response.status_code == 302
    params = parse_qs(urlsplit(response["Location"]).query)
    assert params["error"] == ["invalid_request"]
    assert params["iss"] == ["http://testserver/oauth"] or params["iss"][0].startswith(
        "http://testserver"
    )
    assert not Grant.objects.exists()


def test_token_request_without_the_redirect_uri_the_authorization_request_sent_is_refused(
    client,
):
    app, secret = register()
    person = UserFactory()
    code, verifier = get_code(client, app, person)
    before = counts()
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
    response = client.post(TOKEN_URL, data, HTTP_AUTHORIZATION=basic(app.client.client_id, secret))
    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_request", "invalid_grant"}
    assert counts() == before
    # With it, the same code still works.
    assert exchange(client, app, secret, code, verifier).status_code == 200


def test_token_request_may_omit_redirect_uri_when_the_authorization_request_did(client):
    from urllib.parse import urlencode

    from tests.factories import GrantFactory

    app, secret = register()
    person = UserFactory()
    GrantFactory(user=person, app=app, scopes=[PROFILE])
    client.force_login(person)
    verifier, challenge = pkce_pair()
    query = urlencode({"response_type": "code", "client_id": app.client.client_id,
                       "scope": PROFILE, "state": "s", "code_challenge": challenge,
                       "code_challenge_method": "S256"})  # fmt: skip
    response = client.get("/oauth/authorize/?" + query)
    code = parse_qs(urlsplit(response["Location"]).query)["code"][0]
    assert CodeWithoutRedirectUri.objects.count() == 1
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
    response = client.post(TOKEN_URL, data, HTTP_AUTHORIZATION=basic(app.client.client_id, secret))
    assert response.status_code == 200, response.content
    assert not CodeWithoutRedirectUri.objects.exists()  # gone with its code


# ---- item 13: client credentials off ends its tokens; no http://localhost ------------------------
def test_turning_off_client_credentials_ends_the_tokens_it_issued(client):
    app, secret = register()
    response = client.post(TOKEN_URL, CC, HTTP_AUTHORIZATION=basic(app.client.client_id, secret))
    token = response.json()["access_token"]
    person = UserFactory()
    code, verifier = get_code(client, app, person)
    assert exchange(client, app, secret, code, verifier).status_code == 200
    app_update(app=app, actor=app.publisher.owner, allow_client_credentials=False)
    assert not AccessToken.objects.filter(user__isnull=True).exists()
    assert AccessToken.objects.filter(user=person).count() == 1  # people's tokens stay
    event = AuditEvent.objects.filter(action="app.updated").order_by("-id").first()
    assert event.metadata["app_access_ended"] == 1
    job = client.post(
        "/api/v1/jobs/check",
        {"job_id": "j", "grant_id": 1, "scopes": [PROFILE]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert job.status_code == 401
    again = client.post(TOKEN_URL, CC, HTTP_AUTHORIZATION=basic(app.client.client_id, secret))
    assert again.status_code in (400, 401) and AccessToken.objects.filter(user=None).count() == 0


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize(
    "uri", ["http://localhost:8765/callback", "http://localhost/callback", "http://LOCALHOST/cb"]
)
def test_localhost_redirect_uris_are_refused(settings, debug, uri):
    settings.DEBUG = debug
    app, _ = register()
    before = app.client.redirect_uris
    with pytest.raises(RegistryError):
        app_add_redirect_uri(app=app, actor=app.publisher.owner, uri=uri)
    app.client.refresh_from_db()
    assert app.client.redirect_uris == before
    with pytest.raises(RegistryError):
        register(redirect_uris=[uri], name="Other")


# ---- item 3: an inactive person gets nothing from the authorization server ---------------------
def test_inactive_person_no_refresh_no_code_exchange_no_introspection(client):
    from tests.apps_registry.helpers import INTROSPECT_URL

    app, secret = register()
    person = UserFactory()
    code, verifier = get_code(client, app, person)
    tokens = exchange(client, app, secret, code, verifier).json()
    second_code, second_verifier = get_code(client, app, person)
    # Deactivated without the receiver (a raw update): the validator itself must refuse.
    type(person).objects.filter(pk=person.pk).update(is_active=False)
    before = counts()
    auth = basic(app.client.client_id, secret)
    refreshed = client.post(
        TOKEN_URL,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        HTTP_AUTHORIZATION=auth,
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    exchanged = exchange(client, app, secret, second_code, second_verifier)
    assert exchanged.status_code == 400
    assert (Grant.objects.count(), AccessToken.objects.count()) <= before[:2]
    assert RefreshToken.objects.count() == before[2]
    info = client.post(INTROSPECT_URL, {"token": tokens["access_token"]}, HTTP_AUTHORIZATION=auth)
    assert info.json() == {"active": False}
