"""MCP-style clients: discovery (RFC 8414, RFC 9728), dynamic registration (RFC 7591) and client
ID metadata documents, each client an unverified app "registered by the client itself"."""

from __future__ import annotations

import json

import pytest
from oauth2_provider.cimd import _backoff_cache_key

from apps_registry.cimd import PlatformMetadataFetcher
from apps_registry.models import App, OAuthClient
from apps_registry.self_registration import UNATTENDED_WRITES_SCOPE
from consent.catalog import CATALOG, Access
from tests.apps_registry.https_documents import Answer, DocumentServer

pytestmark = pytest.mark.django_db

LOOPBACK = "http://127.0.0.1:33418/callback"
# Every reading scope of the catalog: what /mcp asks for first.
READ_SCOPES = {s.name for s in CATALOG.values() if s.access == Access.READ}


# ---- discovery ---------------------------------------------------------------------------------
def test_authorization_server_metadata_for_mcp_clients(client):
    data = client.get("/.well-known/oauth-authorization-server").json()
    assert data["issuer"] == "http://testserver"
    assert data["client_id_metadata_document_supported"] is True
    assert data["registration_endpoint"] == "http://testserver/oauth/register/"
    assert "offline_access" in data["scopes_supported"]
    assert data["authorization_details_types_supported"] == [
        "github_organization",
        "github_repository",
        "google_drive_folder",
        "slack_channel",
    ]
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert data["authorization_response_iss_parameter_supported"] is True


@pytest.mark.parametrize("path", ["/mcp", "/api/v1"])
def test_protected_resource_metadata(client, path):
    response = client.get(f"/.well-known/oauth-protected-resource{path}")
    assert response.status_code == 200
    data = response.json()
    assert data["resource"] == f"http://testserver{path}"
    assert data["authorization_servers"] == ["http://testserver"]
    # The minimal set; never offline_access (MCP: refresh tokens are no resource requirement).
    assert set(data["scopes_supported"]) == READ_SCOPES
    assert data["bearer_methods_supported"] == ["header"]
    assert "github_repository" in data["authorization_details_types_supported"]


def test_the_issuer_is_the_protected_resources_authorization_server(client):
    prm = client.get("/.well-known/oauth-protected-resource/mcp").json()
    asm = client.get("/.well-known/oauth-authorization-server").json()
    assert prm["authorization_servers"][0] == asm["issuer"]


# ---- RFC 7591 dynamic registration ---------------------------------------------------------------
def register(client, **metadata):
    body = {
        "client_name": "Claude-ish",
        "redirect_uris": [LOOPBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **metadata,
    }
    return client.post("/oauth/register/", json.dumps(body), content_type="application/json")


def test_dcr_registers_a_loopback_client_as_an_unverified_self_registered_app(client):
    response = register(client)
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["token_endpoint_auth_method"] == "none"
    assert response["Cache-Control"] == "no-store"
    app = App.objects.get(client__client_id=data["client_id"])
    assert app.self_registered and not app.verified
    assert app.name == "Claude-ish"
    assert app.publisher.owner is None
    assert app.client.registration_source == OAuthClient.RegistrationSource.DCR
    scopes = {s.scope: s.required for s in app.allowed_scopes.all()}
    assert UNATTENDED_WRITES_SCOPE not in scopes
    assert "agents.jobs.background" in scopes and app.may_request_background
    assert not any(scopes.values()), "all optional: the person narrows on consent"


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({"redirect_uris": ["https://app.example.com/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://app.example.com/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": []}, "invalid_redirect_uri"),
        ({"redirect_uris": "http://127.0.0.1/cb"}, "invalid_redirect_uri"),
        ({"grant_types": ["client_credentials"]}, "invalid_client_metadata"),
        ({"grant_types": ["implicit"]}, "invalid_client_metadata"),
        ({"response_types": ["token"]}, "invalid_client_metadata"),
        ({"client_name": "x" * 101}, "invalid_client_metadata"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
    ],
)
def test_dcr_refuses_and_changes_nothing(client, metadata, error):
    before = OAuthClient.objects.count()
    response = register(client, **metadata)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == error
    assert OAuthClient.objects.count() == before


def test_dcr_refuses_a_body_that_is_not_json(client):
    response = client.post("/oauth/register/", "not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"


def test_dcr_non_loopback_redirects_only_when_the_operator_allows_them(client, settings):
    settings.OAUTH_DCR_ALLOW_NON_LOOPBACK = True
    response = register(client, redirect_uris=["https://agent.example.com/callback"])
    assert response.status_code == 201, response.content


def test_dcr_is_rate_limited_per_address(client, settings):
    settings.OAUTH_DCR_RATE_LIMIT_PER_HOUR = 3
    # The hourly window outlives a test run when the cache is Redis: a fresh address each run.
    import random

    first, second = random.sample(range(1, 250), 2)
    addr = {"REMOTE_ADDR": f"203.0.113.{first}"}
    codes = [
        client.post(
            "/oauth/register/",
            json.dumps({"client_name": f"c{i}", "redirect_uris": [LOOPBACK]}),
            content_type="application/json",
            **addr,
        ).status_code
        for i in range(5)
    ]
    assert codes == [201, 201, 201, 429, 429]
    refused = client.post("/oauth/register/", "{}", content_type="application/json", **addr)
    assert refused.json()["error"] == "temporarily_unavailable"
    assert int(refused["Retry-After"]) >= 1
    assert OAuthClient.objects.count() == 3
    # Another address is not affected.
    assert register(client, REMOTE_ADDR=f"203.0.113.{second}").status_code == 201


def test_dcr_management_is_read_only(client):
    data = register(client).json()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {data['registration_access_token']}"}
    uri = data["registration_client_uri"]
    assert client.get(uri, **auth).status_code == 200
    changed = client.put(
        uri,
        json.dumps({"redirect_uris": ["https://evil.example.com/cb"]}),
        content_type="application/json",
        **auth,
    )
    assert changed.status_code == 405
    assert client.delete(uri, **auth).status_code == 405
    assert OAuthClient.objects.get(client_id=data["client_id"]).redirect_uris == LOOPBACK


def test_dcr_can_be_turned_off(client, settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "DCR_ENABLED": False}
    assert register(client).status_code == 404
    assert (
        "registration_endpoint" not in client.get("/.well-known/oauth-authorization-server").json()
    )


# ---- client ID metadata documents ------------------------------------------------------------------
@pytest.fixture
def documents(tmp_path, settings):
    server = DocumentServer(tmp_path)
    settings.OAUTH_CIMD_ALLOW_LOOPBACK = True
    settings.OAUTH_CIMD_CA_BUNDLE = server.cert_path
    yield server
    server.close()


def authorize(client, client_id, redirect_uri=LOOPBACK, scope="services.github.repositories.read"):
    from tests.consent.helpers import pkce_pair

    _verifier, challenge = pkce_pair()
    return client.get(
        "/oauth/authorize/",
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": "s1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )


def test_cimd_client_reaches_the_consent_screen_as_self_registered(documents, signed_in_client):
    client_id = documents.client_document("/clients/good.json", redirect_uris=[LOOPBACK])
    response = authorize(signed_in_client, client_id)
    assert response.status_code == 200, response.content[:400]
    page = response.content.decode()
    assert "Test MCP client" in page
    assert "Unverified, registered by the client itself" in page
    app = App.objects.get(client__client_id=client_id)
    assert app.publisher.name == "127.0.0.1" and app.publisher.owner is None
    assert app.client.registration_source == OAuthClient.RegistrationSource.CIMD
    # Cached: a second request does not fetch again.
    authorize(signed_in_client, client_id)
    assert documents.hits.count("/clients/good.json") == 1


def test_cimd_redirect_uri_must_be_in_the_document(documents, signed_in_client):
    client_id = documents.client_document("/clients/other.json", redirect_uris=[LOOPBACK])
    response = authorize(signed_in_client, client_id, redirect_uri="http://127.0.0.1:1/elsewhere")
    assert response.status_code == 400


def fetch(url):
    return PlatformMetadataFetcher().fetch(url)


def refused(url):
    from oauth2_provider.cimd import CIMDError

    with pytest.raises(CIMDError) as problem:
        fetch(url)
    return str(problem.value)


def test_cimd_fetch_accepts_a_good_document(documents):
    url = documents.client_document(
        "/c/ok.json", redirect_uris=[LOOPBACK], **{"client_uri": "https://x"}
    )
    documents.answers["/c/ok.json"].headers["Cache-Control"] = "max-age=600"
    metadata, max_age = fetch(url)
    assert metadata["client_id"] == url and max_age == 600


def test_cimd_fetch_refuses_http(documents):
    assert "https" in refused(f"http://127.0.0.1:{documents.port}/c/plain.json")


def test_cimd_fetch_refuses_loopback_outside_tests(documents, settings):
    url = documents.client_document("/c/loop.json", redirect_uris=[LOOPBACK])
    settings.OAUTH_CIMD_ALLOW_LOOPBACK = False
    assert "non-public" in refused(url)


@pytest.mark.parametrize(
    "host", ["10.0.0.7", "192.168.1.10", "169.254.169.254", "100.64.0.1", "[::ffff:10.0.0.1]"]
)
def test_cimd_fetch_refuses_private_addresses(documents, host):
    assert "non-public" in refused(f"https://{host}/client.json")


def test_cimd_fetch_refuses_redirects(documents):
    documents.answers["/c/moved.json"] = Answer(
        302, b"", {"Location": documents.url("/c/ok.json"), "Content-Type": "application/json"}
    )
    assert "302" in refused(documents.url("/c/moved.json"))


def test_cimd_fetch_refuses_oversized_documents(documents):
    big = {"client_id": documents.url("/c/big.json"), "padding": "x" * 20000}
    documents.put_json("/c/big.json", big)
    assert "size" in refused(documents.url("/c/big.json"))


def test_cimd_fetch_refuses_untrusted_certificates(documents, settings):
    url = documents.client_document("/c/tls.json", redirect_uris=[LOOPBACK])
    settings.OAUTH_CIMD_CA_BUNDLE = ""
    assert "could not fetch" in refused(url)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"redirect_uris": ["http://evil.example.com/cb"]}, "redirect URI refused"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"client_name": ""}, "client_name"),
    ],
)
def test_cimd_documents_follow_the_platforms_rules(documents, change, why):
    url = documents.client_document("/c/rules.json", **{"redirect_uris": [LOOPBACK], **change})
    assert why in refused(url)


def test_cimd_invalid_documents_leave_no_client(documents, signed_in_client):
    path = "/c/mismatch.json"
    documents.put_json(
        path,
        {
            "client_id": "https://other.example/x.json",
            "client_name": "x",
            "redirect_uris": [LOOPBACK],
        },
    )
    url = documents.url(path)
    response = authorize(signed_in_client, url)
    assert response.status_code == 400
    assert not OAuthClient.objects.filter(client_id=url).exists()
    from django.core.cache import cache

    assert cache.get(_backoff_cache_key(url)), "failures back off"


def test_cimd_document_is_fetched_again_when_its_cache_expires(documents, signed_in_client):
    from datetime import timedelta

    from django.utils import timezone

    path = "/clients/renamed.json"
    client_id = documents.client_document(path, redirect_uris=[LOOPBACK], name="Old name")
    authorize(signed_in_client, client_id)
    documents.client_document(path, redirect_uris=[LOOPBACK], name="New name")
    authorize(signed_in_client, client_id)
    assert documents.hits.count(path) == 1, "cached"
    OAuthClient.objects.filter(client_id=client_id).update(
        cimd_expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = authorize(signed_in_client, client_id)
    assert documents.hits.count(path) == 2
    assert "New name" in response.content.decode()
    assert App.objects.get(client__client_id=client_id).name == "New name"
