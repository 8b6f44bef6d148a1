"""/api/v1/ takes the API's short middleware chain (config/api_dispatch.py): the same answer and
security headers as the whole site chain gave it, and no session, CSRF or signed-in person;
every other address still gets all of them."""

import json

import pytest
from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware
from django.test import Client, RequestFactory
from django.urls import reverse

from config.api_dispatch import OAUTH_ENDPOINT_PREFIXES, ApiHandler
from tests.apps_registry.helpers import PROFILE, basic, register
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DISPATCH = "config.api_dispatch.ApiDispatchMiddleware"
API_ERRORS = "config.errors.ApiErrorMiddleware"


def site_chain() -> list[str]:
    """What /api/v1/ went through before: the whole site list, the API's error shape second."""
    rest = [m for m in settings.MIDDLEWARE if m != DISPATCH]
    return [rest[0], API_ERRORS, *rest[1:]]


def answer(middleware, request):
    response = ApiHandler(middleware)._middleware_chain(request)
    # The site chain said "Vary: Cookie" because its time-zone middleware read the session's
    # user; an API answer depends on the bearer token, never on a cookie.
    headers = {k: v for k, v in response.items() if k not in ("X-Request-ID", "Vary")}
    assert "Cookie" not in response.get("Vary", "") or middleware != settings.API_MIDDLEWARE
    is_json = response["Content-Type"].startswith("application/json")
    body = json.loads(response.content) if is_json else None
    if body and "error" in body:
        body["error"].pop("request_id")
    return response.status_code, headers, body


def test_dispatch_is_first_and_the_api_list_has_no_session_csrf_or_auth():
    assert settings.MIDDLEWARE[0] == DISPATCH
    assert API_ERRORS not in settings.MIDDLEWARE  # only the API answers in its shape
    for skipped in ("Session", "Csrf", "Authentication", "Message", "allauth", "StaffMFA"):
        assert not any(skipped in m for m in settings.API_MIDDLEWARE)


@pytest.mark.parametrize(
    "path, headers",
    [
        ("/api/v1/me", {}),  # 401 invalid_token, with its Bearer challenge
        ("/api/v1/me", {"HTTP_AUTHORIZATION": "Bearer not-a-token"}),
        ("/api/v1/no/such/thing", {}),  # the API's 404
        ("/api/v1/schema/", {}),  # a 200
        ("/api/v1/docs/", {}),  # an HTML page
        ("/api/v1/me", {"HTTP_X_REQUEST_ID": "client-id-1"}),
    ],
)
@pytest.mark.parametrize("https", [False, True])
def test_api_chain_answers_what_the_site_chain_answered(settings, path, headers, https):
    if https:
        settings.SECURE_HSTS_SECONDS = 3600
        settings.SECURE_SSL_REDIRECT = True
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    rf = RequestFactory()
    before = answer(site_chain(), rf.get(path, **headers))
    after = answer(settings.API_MIDDLEWARE, rf.get(path, **headers))
    assert after == before
    status, sent, _ = after
    if https:
        # Plain HTTP is redirected before anything else runs, as on the site.
        assert status == 301 and sent["Location"].startswith("https://")
        https_headers = {**headers, "HTTP_X_FORWARDED_PROTO": "https"}
        secure_before = answer(site_chain(), rf.get(path, **https_headers))
        secure_after = answer(settings.API_MIDDLEWARE, rf.get(path, **https_headers))
        assert secure_after == secure_before
        assert secure_after[1]["Strict-Transport-Security"].startswith("max-age=3600")
    else:
        assert sent["X-Frame-Options"] == "DENY"
        assert sent["X-Content-Type-Options"] == "nosniff"
        assert sent["Referrer-Policy"] == "same-origin"
        assert "frame-ancestors 'none'" in sent["Content-Security-Policy"]


def test_api_request_never_touches_the_session_even_signed_in(monkeypatch):
    opened = []
    original = SessionMiddleware.process_request

    def spy(self, request):
        opened.append(request.path)
        return original(self, request)

    monkeypatch.setattr(SessionMiddleware, "process_request", spy)
    client = Client()
    client.force_login(UserFactory())  # a session cookie goes with every request below
    r = client.get("/api/v1/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"
    assert r["X-Request-ID"]
    assert opened == [] and "Set-Cookie" not in r and "Cookie" not in r.get("Vary", "")
    client.get("/profile/")
    assert opened == ["/profile/"]  # a page still has its session


def test_pages_still_get_csrf_and_sessions():
    client = Client(enforce_csrf_checks=True)
    r = client.get("/accounts/login/")
    assert r.status_code == 200 and "csrftoken" in r.cookies
    assert r["X-Frame-Options"] == "DENY" and r["X-Request-ID"]
    r = client.post("/accounts/login/", {"login": "a@example.com", "password": "x"})
    assert r.status_code == 403  # no CSRF token: refused, as before


def test_api_post_without_csrf_token_is_not_refused_by_csrf():
    client = Client(enforce_csrf_checks=True)
    r = client.post("/api/v1/jobs/check", {}, content_type="application/json")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"


# ---- the authorization server's token-side endpoints --------------------------------------------
def site_chain_without_api_errors() -> list[str]:
    return [m for m in settings.MIDDLEWARE if m != DISPATCH]


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("oauth2_provider:token", {}),
        ("oauth2_provider:revoke-token", {}),
        ("oauth2_provider:introspect", {}),
    ],
)
def test_every_token_side_endpoint_takes_the_short_chain(name, kwargs):
    assert reverse(name, kwargs=kwargs).startswith(OAUTH_ENDPOINT_PREFIXES)


def test_the_authorization_and_registration_endpoints_keep_the_site_chain():
    # The consent screen is the person's; DOT's registration view reads request.user.
    for name, kwargs in (
        ("oauth2_provider:authorize", {}),
        ("oauth2_provider:dcr-register", {}),
        ("oauth2_provider:dcr-register-management", {"client_id": "abc"}),
    ):
        assert not reverse(name, kwargs=kwargs).startswith(OAUTH_ENDPOINT_PREFIXES)
    assert "config.errors.ApiErrorMiddleware" not in settings.OAUTH_ENDPOINT_MIDDLEWARE
    for skipped in ("Session", "Csrf", "Authentication", "Message", "allauth", "StaffMFA"):
        assert not any(skipped in m for m in settings.OAUTH_ENDPOINT_MIDDLEWARE)


def oauth_answer(middleware, request):
    response = ApiHandler(middleware)._middleware_chain(request)
    headers = {k: v for k, v in response.items() if k not in ("X-Request-ID", "Vary")}
    return response.status_code, headers, json.loads(response.content or b"null")


@pytest.mark.parametrize(
    "path, data",
    [
        ("/oauth/token/", {"grant_type": "client_credentials"}),  # no client: invalid_client
        ("/oauth/token/", {"grant_type": "password", "username": "a", "password": "b"}),
        ("/oauth/revoke_token/", {"token": "x"}),
        ("/oauth/introspect/", {"token": "x"}),
    ],
)
def test_token_side_chain_answers_what_the_site_chain_answered(path, data):
    rf = RequestFactory()
    before = oauth_answer(site_chain_without_api_errors(), rf.post(path, data))
    after = oauth_answer(settings.OAUTH_ENDPOINT_MIDDLEWARE, rf.post(path, data))
    assert after == before
    status, sent, body = after
    assert status in (400, 401) and "error" in body  # RFC 6749's form, not the API's
    assert sent["X-Frame-Options"] == "DENY" and sent["X-Content-Type-Options"] == "nosniff"


def test_a_token_request_never_touches_the_session_and_needs_no_csrf(monkeypatch):
    opened = []
    original = SessionMiddleware.process_request

    def spy(self, request):
        opened.append(request.path)
        return original(self, request)

    monkeypatch.setattr(SessionMiddleware, "process_request", spy)
    app, secret = register(scopes={PROFILE: True})
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory())
    r = client.post(
        "/oauth/token/",
        {"grant_type": "client_credentials", "scope": PROFILE},
        HTTP_AUTHORIZATION=basic(app.client.client_id, secret),
    )
    assert r.status_code == 200, r.content
    assert r.json()["token_type"] == "Bearer" and r["X-Request-ID"]
    assert r["Cache-Control"] == "no-store"
    assert opened == [] and "Set-Cookie" not in r
    client.get("/oauth/authorize/?client_id=x")
    assert opened == ["/oauth/authorize/"]  # the consent screen still has the person's session


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_mcp_endpoint_answers_on_the_short_chain_what_it_answered_on_the_site_chain(method):
    rf = RequestFactory()
    request = getattr(rf, method)
    make = (
        (lambda: request("/mcp", data=b"{}", content_type="application/json"))
        if method == "post"
        else (lambda: request("/mcp"))
    )
    before = ApiHandler(site_chain_without_api_errors())._middleware_chain(make())
    after = ApiHandler(settings.OAUTH_ENDPOINT_MIDDLEWARE)._middleware_chain(make())
    drop = ("X-Request-ID", "Vary")
    assert after.status_code == before.status_code == 401  # no token: RFC 9728's challenge
    assert {k: v for k, v in after.items() if k not in drop} == {
        k: v for k, v in before.items() if k not in drop
    }
    assert after.content == before.content


def test_only_the_mcp_path_itself_leaves_the_site_chain(monkeypatch):
    opened = []
    original = SessionMiddleware.process_request

    def spy(self, request):
        opened.append(request.path)
        return original(self, request)

    monkeypatch.setattr(SessionMiddleware, "process_request", spy)
    client = Client()
    r = client.post("/mcp", b"{}", content_type="application/json")
    assert r.status_code == 401 and "resource_metadata" in r["WWW-Authenticate"]
    client.get("/mcpx")
    assert opened == ["/mcpx"]
