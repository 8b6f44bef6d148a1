"""RFC 8707 audiences: canonical resource URIs and which endpoint accepts which token (no HTTP)."""

import pytest
from django.test import RequestFactory

from apps_registry import audience


@pytest.fixture
def request_(settings):
    settings.ALLOWED_HOSTS = ["platform.example"]
    return RequestFactory().post("/mcp", HTTP_HOST="platform.example:8000")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Platform.Example:80/mcp/", "http://platform.example/mcp"),
        ("https://platform.example:443/api/v1", "https://platform.example/api/v1"),
        ("https://platform.example:8443/x/../mcp", "https://platform.example:8443/mcp"),
        ("https://platform.example/", "https://platform.example"),
        ("  https://platform.example/mcp  ", "https://platform.example/mcp"),
        ("https://user@platform.example/mcp", None),
        ("https://platform.example/mcp?x=1", None),
        ("https://platform.example/mcp#frag", None),
        ("https://platform.example/mcp#", None),
        ("ftp://platform.example/mcp", None),
        ("https://platform.example:99999/mcp", None),
        ("/mcp", None),
        (None, None),
        (["https://platform.example/mcp"], None),
    ],
)
def test_canonical(raw, expected):
    assert audience.canonical(raw) == expected


def test_a_token_without_audience_is_the_apis_only(request_):
    assert audience.audience_allows([], audience.API, request_)
    assert not audience.audience_allows([], audience.MCP, request_)


def test_each_endpoint_accepts_the_tokens_bound_to_it(request_):
    mcp = ["http://PLATFORM.example:8000/mcp/"]
    api = ["http://platform.example:8000/api/v1"]
    assert audience.audience_allows(mcp, audience.MCP, request_)
    assert not audience.audience_allows(mcp, audience.API, request_)
    assert audience.audience_allows(api, audience.API, request_)
    assert not audience.audience_allows(api, audience.MCP, request_)
    assert audience.audience_allows(api + mcp, audience.MCP, request_)
    assert audience.audience_allows(api + mcp, audience.API, request_)


def test_another_origin_or_a_malformed_resource_is_no_audience(request_):
    for resources in (
        ["http://platform.example:8001/mcp"],
        ["https://platform.example:8000/mcp"],
        ["http://other.example:8000/mcp"],
        ["http://platform.example:8000/mcp?x"],
        [None],
    ):
        assert not audience.audience_allows(resources, audience.MCP, request_), resources
        assert audience.resource_name(str(resources[0]), request_) is None
