"""Two providers added only as data (tests/data/generic_providers.json), end to end against
panva's oidc-provider (a standards-compliant OAuth 2.0 / OIDC server, from the project's
package.json) over real HTTP: connect (authorization code + PKCE S256, client_secret_post),
refresh (rotation: the old refresh token is spent), consent (the real listing from a resource API
that validates the token by RFC 7662 introspection), a brokered call narrowed to the selection,
and disconnect (RFC 7009 revocation at the server, confirmed by introspection). One names its
endpoints, the other only its issuer (OpenID Connect discovery).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from connections.models import Connection
from consent.models import Grant
from tests.connections.conftest import Browser
from tests.consent.helpers import approve, authorize_url, exchange, make_app, pkce_pair, query_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
SERVER = Path(__file__).with_name("oidc_server.mjs")
ITEMS = [{"id": "p1", "name": "Apollo"}, {"id": "p2", "name": "Zephyr"}]
CASES = {
    # provider id: (platform scope, provider scope, API base path, list path, list operation)
    "acme": ("services.acme.projects.read", "projects:read", "", "/projects", "acme/projects"),
    "globex": (
        "services.globex.notebooks.read", "notes.read", "/v2", "/notebooks", "globex/notebooks",
    ),
}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def node():
    if shutil.which("node") is None or not (ROOT / "node_modules" / "oidc-provider").exists():
        pytest.fail("oidc-provider is not installed: run `make node-deps` (make test does).")
    return shutil.which("node")


class ResourceAPI:
    """The provider's API: answers only bearer tokens the authorization server says are active
    and carry the scope (RFC 7662 introspection, authenticated as the resource server)."""

    def __init__(self, issuer, scope, base, list_path):
        self.seen: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                info = requests.post(
                    f"{issuer}/token/introspection",
                    data={
                        "token": token,
                        "client_id": "resource-api",
                        "client_secret": "rs-secret",
                    },
                    timeout=10,
                ).json()
                path = urlsplit(self.path).path.removeprefix(base)
                api.seen.append(path)
                if not info.get("active") or scope not in info.get("scope", "").split():
                    return self._send(401, {"error": "invalid_token"})
                if path == list_path:
                    return self._send(200, {"items": ITEMS})
                found = [i for i in ITEMS if f"{list_path}/{i['id']}" == path]
                self._send(200, found[0]) if found else self._send(404, {"error": "not_found"})

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{base}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=sorted(CASES))
def idp(request, node, live_server, settings):
    provider_id = request.param
    _scope, provider_scope, base, list_path, _ = CASES[provider_id]
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    config = {
        "port": port,
        "scopes": ["openid", "offline_access", provider_scope],
        "clients": [
            {
                "client_id": f"platform-{provider_id}",
                "client_secret": "platform-secret",
                "redirect_uris": [f"{live_server.url}/accounts/{provider_id}/login/callback/"],
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": "client_secret_post",
            },
            {
                "client_id": "resource-api",
                "client_secret": "rs-secret",
                "redirect_uris": [],
                "response_types": [],
                "grant_types": [],
            },
        ],
    }
    process = subprocess.Popen(
        [node, str(SERVER), json.dumps(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout.readline().startswith("ready"), "oidc-provider did not start"
    api = ResourceAPI(issuer, provider_scope, base, list_path)
    # acme gives its endpoints; globex names only its issuer (endpoints by OIDC discovery).
    urls = {"issuer": issuer, "api": api.url}
    if provider_id == "acme":
        urls |= {
            "authorize": f"{issuer}/auth",
            "token": f"{issuer}/token",
            "revoke": f"{issuer}/token/revocation",
        }
    settings.PROVIDER_URLS = {provider_id: urls}
    settings.PROVIDER_CREDENTIALS = {
        provider_id: {"client_id": f"platform-{provider_id}", "secret": "platform-secret"}
    }
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "apps_registry.hashers.ClientSecretHasher",
    ]
    yield provider_id, issuer, api
    from connections.outbound import close_session

    close_session()
    api.close()
    process.terminate()
    process.wait(timeout=10)


def _introspect(issuer, token):
    return requests.post(
        f"{issuer}/token/introspection",
        data={"token": token, "client_id": "resource-api", "client_secret": "rs-secret"},
        timeout=10,
    ).json()


def _connect(live_server, user, provider_id, provider_scope, issuer) -> Connection:
    """The person's browser: the platform's connect page, the server's own sign-in page, back."""
    browser = Browser(live_server.url, user)
    start = browser.get(f"/connections/connect/{provider_id}/?scopes={provider_scope}")
    assert start.status_code == 200, start.text
    to_idp = browser.submit(start)
    assert to_idp.status_code == 302 and to_idp.headers["Location"].startswith(issuer)
    assert "code_challenge_method=S256" in to_idp.headers["Location"]
    idp = requests.Session()
    response = idp.get(to_idp.headers["Location"], allow_redirects=False, timeout=10)
    for _ in range(10):
        location = response.headers.get("Location", "")
        if location.startswith(live_server.url):
            break
        if response.status_code in (302, 303):
            response = idp.get(urljoin(issuer, location), allow_redirects=False, timeout=10)
            continue
        form = re.search(r'<form[^>]*action="([^"]+)"', response.text)
        assert form, response.text[:500]
        fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', response.text))
        fields.update({"login": "ada", "password": "any"})
        response = idp.post(
            urljoin(issuer, unescape(form.group(1))), data=fields, allow_redirects=False, timeout=10
        )
    back = browser.follow(browser.get(location))
    assert back.status_code == 200, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", back.text))[-1500:]
    return Connection.objects.get(user=user, provider=provider_id)


def test_a_data_only_provider_end_to_end(idp, live_server, client):
    provider_id, issuer, _api = idp
    scope, provider_scope, _, _, list_route = CASES[provider_id]
    user = UserFactory()

    # Connect: code + PKCE at a real server; the account is the OIDC subject from its userinfo.
    connection = _connect(live_server, user, provider_id, provider_scope, issuer)
    assert connection.provider_account_id == "ada" and connection.status == "active"
    assert provider_scope in connection.scopes
    assert _introspect(issuer, connection.access_token)["active"] is True

    # Refresh: a new access token, and the refresh token rotated (the old one is spent).
    from connections.services import get_valid_access_token

    old_refresh, old_access = connection.refresh_token, connection.access_token
    fresh = get_valid_access_token(connection, force_refresh=True)
    connection.refresh_from_db()
    assert fresh != old_access and connection.refresh_token not in (None, old_refresh)
    assert _introspect(issuer, old_refresh)["active"] is False

    # Consent: the real listing (through the resource API), the person picks one.
    client.force_login(user)
    app = make_app([scope])
    verifier, challenge = pkce_pair()
    screen = client.get(authorize_url(app, [scope], challenge=challenge))
    assert screen.status_code == 200 and "Apollo" in screen.content.decode()
    response = approve(client, screen, resources={scope: ["p1"]})
    assert response.status_code == 302, response.content
    assert [r["id"] for r in Grant.objects.get(user=user, app=app).resources[scope]] == ["p1"]
    token = exchange(client, app, query_of(response["Location"])["code"], verifier).json()
    client.logout()

    # A brokered call: narrowed to the selection; the provider token never leaves the platform.
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token['access_token']}"}
    listed = client.get(f"/api/v1/{list_route}", **auth)
    assert listed.status_code == 200, listed.content
    assert [i["id"] for i in listed.json()["items"]] == ["p1"]
    assert fresh not in listed.content.decode()
    if provider_id == "acme":
        assert client.get("/api/v1/acme/projects/p1", **auth).status_code == 200
        refused = client.get("/api/v1/acme/projects/p2", **auth)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "resource_not_granted"

    # Disconnect: revoked at the server (RFC 7009), tokens gone here.
    from connections.services import connection_disconnect

    connection.refresh_from_db()
    held = connection.refresh_token
    connection_disconnect(connection=connection, actor=user)
    connection.refresh_from_db()
    assert connection.status == "revoked" and connection.refresh_token is None
    assert "failed" not in connection.status_reason
    assert _introspect(issuer, held)["active"] is False
