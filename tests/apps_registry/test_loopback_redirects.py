import pytest

from tests.factories import AppFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_with(settings):
    settings.DEBUG = False

    def make(uris):
        return AppFactory(client__redirect_uris=uris).client

    return make


def test_loopback_http_is_allowed_on_any_port_in_production(client_with):
    client = client_with("http://127.0.0.1/callback")
    assert client.redirect_uri_allowed("http://127.0.0.1:53122/callback")
    assert "http" in client.get_allowed_schemes()


def test_non_loopback_http_is_refused_even_if_stored(client_with):
    client = client_with("http://app.example.com/callback")
    assert not client.redirect_uri_allowed("http://app.example.com/callback")


def test_localhost_name_is_not_loopback_in_production(client_with):
    client = client_with("http://localhost/callback")
    assert not client.redirect_uri_allowed("http://localhost/callback")


def test_https_still_matches_exactly(client_with):
    client = client_with("https://app.example.com/callback")
    assert client.redirect_uri_allowed("https://app.example.com/callback")
    assert not client.redirect_uri_allowed("https://app.example.com/callback/")
