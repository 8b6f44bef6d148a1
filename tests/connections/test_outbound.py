"""The one outbound client's hardening, each shown against real HTTP peers on 127.0.0.1.

Each test performs the attack (a redirect, a foreign ``Link``, a proxy in the environment, an
oversized or endless answer) and shows that no credential reached anyone but the provider. They
fail if the client followed redirects (``allow_redirects=True``) or trusted the environment
(``trust_env=True``).
"""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from connections import outbound
from connections.exceptions import ProviderUnavailable, TokenEndpointError
from tests.connections.http_peer import Answer, start_peer

TOKEN = "gho_secret_provider_token"


@pytest.fixture
def peers():
    started = []

    def make(**routes):
        peer = start_peer(**routes)
        started.append(peer)
        return peer

    yield make
    outbound.close_session()
    for peer in started:
        peer.close()


@pytest.fixture
def no_proxy_exemptions(monkeypatch):
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def _get(url, origins, **kw):
    return outbound.request("GET", url, origins=origins, bearer=TOKEN, **kw)


# --- origin pinning ---------------------------------------------------------------------------


def test_a_url_off_the_provider_hosts_is_refused_before_sending(peers):
    provider, elsewhere = peers(), peers()
    with pytest.raises(outbound.OffOrigin):
        _get(elsewhere.url + "/user", [provider.url])
    assert elsewhere.seen == [] and provider.seen == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/x",
        "http://user:pw@{host}/x",
        "http://{host}@evil.example/x",
        "file:///etc/passwd",
        "//{host}/x",
    ],
)
def test_odd_urls_are_refused(peers, url):
    provider = peers()
    host = provider.url.removeprefix("http://")
    with pytest.raises(outbound.OffOrigin):
        _get(url.format(host=host), [provider.url])
    assert provider.seen == []


def test_same_host_other_port_is_another_origin(peers):
    a, b = peers(), peers()
    assert outbound.origin_of(a.url) != outbound.origin_of(b.url)
    assert outbound.origin_of("HTTPS://API.Example.com:443/x") == "https://api.example.com"
    with pytest.raises(outbound.OffOrigin):
        _get(b.url, [a.url])


@pytest.mark.django_db
def test_listing_link_next_to_another_origin_never_gets_the_token(peers, settings):
    """issue 12 item 8: a provider's ``Link: rel=next`` elsewhere must not receive the Bearer."""
    from connections.resources import list_resources
    from tests.factories import ConnectionFactory

    elsewhere = peers(**{"*": Answer(body=b"[]")})
    provider = peers(
        **{
            "/user/repos": Answer(
                body=b'[{"full_name": "octo/one"}]',
                headers={"Link": f'<{elsewhere.url}/user/repos?page=2>; rel="next"'},
            )
        }
    )
    settings.PROVIDER_URLS = {"github": {"api": provider.url}}
    settings.PROVIDER_CREDENTIALS = {"github": {"client_id": "id", "secret": "s"}}
    connection = ConnectionFactory(
        provider="github",
        access_token=TOKEN,
        token_expires_at=timezone.now() + timezone.timedelta(hours=1),
    )
    with pytest.raises(ProviderUnavailable):
        list_resources(connection, "repository")
    assert [s.authorization for s in provider.seen] == [f"Bearer {TOKEN}"]
    assert elsewhere.seen == []


# --- redirects --------------------------------------------------------------------------------


def test_a_redirect_to_another_origin_is_returned_not_followed(peers):
    elsewhere = peers()
    provider = peers(
        **{"/user": Answer(status=302, headers={"Location": elsewhere.url + "/steal"})}
    )
    response = _get(provider.url + "/user", [provider.url, elsewhere.url])
    assert response.status == 302
    assert elsewhere.seen == []  # not even an allowed origin is visited by a redirect


def test_a_redirect_on_the_same_host_is_not_followed_either(peers):
    provider = peers(**{"/user": Answer(status=307, headers={"Location": "/other"})})
    response = outbound.request(
        "POST", provider.url + "/user", origins=[provider.url], data={"client_secret": "s"}
    )
    assert response.status == 307
    assert [s.target for s in provider.seen] == ["/user"]


@pytest.mark.django_db
def test_token_endpoint_redirect_is_an_error_and_the_secret_goes_nowhere(peers, settings):
    from connections.providers import get_provider
    from connections.tokens import refresh

    elsewhere = peers()
    provider = peers(
        **{"/token": Answer(status=307, headers={"Location": elsewhere.url + "/token"})}
    )
    settings.PROVIDER_URLS = {"google": {"token": provider.url + "/token"}}
    settings.PROVIDER_CREDENTIALS = {"google": {"client_id": "id", "secret": "s"}}
    with pytest.raises(TokenEndpointError):
        refresh(get_provider("google"), refresh_token="rt")
    assert elsewhere.seen == [] and len(provider.seen) == 1


# --- the environment --------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
def test_proxy_settings_in_the_environment_are_ignored(
    peers, monkeypatch, no_proxy_exemptions, variable
):
    proxy = peers()
    provider = peers(**{"/user": Answer(body=b'{"id": 1}')})
    monkeypatch.setenv(variable, proxy.url)
    outbound.close_session()
    response = _get(provider.url + "/user", [provider.url])
    assert response.status == 200 and response.json() == {"id": 1}
    assert proxy.seen == []
    assert [s.authorization for s in provider.seen] == [f"Bearer {TOKEN}"]


@pytest.mark.django_db
def test_profile_fetch_ignores_a_proxy_in_the_environment(
    peers, monkeypatch, no_proxy_exemptions, settings
):
    from connections.oauth.adapters import fetch_profile

    proxy = peers()
    provider = peers(**{"/user": Answer(body=b'{"id": 7, "login": "octo"}')})
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    settings.PROVIDER_URLS = {"github": {"api": provider.url}}
    assert fetch_profile("github", TOKEN)["login"] == "octo"
    assert proxy.seen == []


# --- size and time ----------------------------------------------------------------------------


def test_an_answer_declared_too_large_is_refused(peers, settings):
    settings.OUTBOUND_MAX_BYTES = 1000
    provider = peers(**{"*": Answer(body=b"x" * 5000)})
    with pytest.raises(outbound.TooLarge):
        _get(provider.url, [provider.url])


def test_a_chunked_answer_that_grows_too_large_is_cut_off(peers, settings):
    settings.OUTBOUND_MAX_BYTES = 1000
    provider = peers(**{"*": Answer(body=b"x" * 50_000, chunked=True, drip_bytes=500)})
    with pytest.raises(outbound.TooLarge):
        _get(provider.url, [provider.url])


def test_a_slow_drip_answer_hits_the_total_time_limit(peers, settings):
    settings.OUTBOUND_RETRIES = 0
    provider = peers(**{"*": Answer(body=b"x" * 40, chunked=True, drip_bytes=1, drip_seconds=0.1)})
    started = time.perf_counter()
    with pytest.raises(outbound.Unreachable):
        _get(provider.url, [provider.url], timeout=1.0)
    # Each read is quick (the read timeout alone would never fire); the total limit does.
    assert time.perf_counter() - started < 3.5


def test_rate_limit_is_reported_and_not_retried(peers):
    provider = peers(**{"*": Answer(status=429, headers={"Retry-After": "17"})})
    with pytest.raises(outbound.RateLimited) as caught:
        _get(provider.url, [provider.url])
    assert caught.value.retry_after == 17 and len(provider.seen) == 1


def test_errors_carry_no_body_and_no_credential(peers):
    provider = peers(
        **{"*": Answer(status=200, body=b"y" * 100, headers={"Content-Length": "99999999"})}
    )
    with pytest.raises(outbound.TooLarge) as caught:
        _get(provider.url, [provider.url], max_bytes=10)
    assert TOKEN not in str(caught.value) and "y" * 10 not in str(caught.value)


def test_no_app_module_but_the_client_imports_an_http_library():
    """Every provider call goes through connections.outbound: nothing else may open HTTP."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    # Not provider calls: the OAuth server fetching an MCP client's public metadata document
    # (no provider credential is ever sent; it has its own address and size guards).
    exempt = {"apps_registry/cimd.py"}
    offenders = []
    for app in ("identity", "audit", "connections", "apps_registry", "consent", "broker", "config"):
        for path in (root / app).rglob("*.py"):
            if path.name == "outbound.py" and path.parent.name == "connections":
                continue
            if str(path.relative_to(root)) in exempt:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                if any(n.split(".")[0] in {"requests", "httpx", "urllib3"} for n in names):
                    offenders.append(str(path.relative_to(root)))
                if any(n in {"urllib.request", "http.client"} for n in names):
                    offenders.append(str(path.relative_to(root)))
    assert offenders == []
