"""The direct ``tools/call`` path (broker.mcp_direct) answers exactly what the SDK answers.

Each request is sent twice through ``/mcp``: once with the SDK's transport switched off (so the
direct path must answer it) and once with the direct path switched off (the SDK's answer); status,
content type and body must be the same. Requests that are not the plain case must reach the SDK.
"""

from __future__ import annotations

import json
import re

import pytest

from broker import mcp_calls, mcp_server
from broker.mcp_tools import PENDING_ACTION_TOOL
from tests.broker.conftest import make_world
from tests.broker.test_mcp import _run, bind

MODERN = "2026-07-28"
PV, CAPS = "io.modelcontextprotocol/protocolVersion", "io.modelcontextprotocol/clientCapabilities"


@pytest.fixture
def world(fake, client):
    world = make_world(fake, client)
    world.mcp_token = world.token()
    bind(world.mcp_token, "http://testserver/mcp")
    return world


def _post(client, token, body, headers):
    return client.post(
        "/mcp",
        body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT="application/json, text/event-stream",
        **headers,
    )


def _direct(monkeypatch, client, token, body, headers):
    def no_sdk(*args, **kwargs):
        raise AssertionError("the SDK's transport was used")

    with monkeypatch.context() as patch:
        patch.setattr(mcp_server, "_serve", no_sdk)
        return _post(client, token, body, headers)


def _sdk(monkeypatch, client, token, body, headers):
    with monkeypatch.context() as patch:
        patch.setattr(mcp_server, "answer_directly", lambda request, tools, message: None)
        return _post(client, token, body, headers)


def _wire(response) -> tuple[int, str, dict]:
    """Status, content type and body, with what differs between two held writes made equal
    (each call holds a new pending action, with its own id and times; a signed request_state)."""
    payload = json.loads(response.content)
    result = payload.get("result") or {}
    if "requestState" in result:
        result["requestState"] = "signed"
    action = (result.get("structuredContent") or {}).get("pending_action")
    if action:
        # Inside the result only: the envelope's request id may be the same number.
        payload["result"] = _same(result, action)
    return response.status_code, response["Content-Type"], payload


def _same(value, action):
    if isinstance(value, dict):
        return {
            k: "t" if k in ("created_at", "expires_at") else _same(v, action)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_same(v, action) for v in value]
    if isinstance(value, str):
        return re.sub(rf"(?<![\w.]){action['id']}(?![\w.])", "0", value)
    return 0 if value == action["id"] and not isinstance(value, bool) else value


def _call(name, arguments, *, modern=False, capabilities=None, request_id=7):
    params = {"name": name, "arguments": arguments}
    headers = {}
    if modern:
        params["_meta"] = {PV: MODERN, CAPS: capabilities or {}}
        headers = {
            "HTTP_MCP_PROTOCOL_VERSION": MODERN,
            "HTTP_MCP_METHOD": "tools/call",
            "HTTP_MCP_NAME": name,
        }
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
    return body, headers


READ = ("github.repos.get", {"owner": "octo", "repo": "hello"})
UNSELECTED = ("github.repos.get", {"owner": "octo", "repo": "secret"})
WRITE = ("github.issues.create", {"owner": "octo", "repo": "hello", "title": "Hi"})
CASES = {
    "2025 read, no version header": _call(*READ),
    "2025 read, string id": _call(*READ, request_id="abc"),
    "2025 header, unselected repository": (
        _call(*UNSELECTED)[0],
        {"HTTP_MCP_PROTOCOL_VERSION": "2025-11-25"},
    ),
    "2025 unknown tool": _call("github.nothing", {}),
    "2025 missing argument": _call("github.repos.get", {"owner": "octo"}),
    "2025 held write": _call(*WRITE),
    "2025 pending_action of nobody's": _call(PENDING_ACTION_TOOL, {"id": 999999}),
    "2026 read": _call(*READ, modern=True),
    "2026 unknown argument": _call("github.repos.get", {**READ[1], "x": 1}, modern=True),
    "2026 held write, no elicitation": _call(*WRITE, modern=True),
    "2026 held write, URL elicitation": _call(
        *WRITE, modern=True, capabilities={"elicitation": {"url": {}}}
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES)
def test_the_direct_answer_is_the_sdks(case, world, monkeypatch, client):
    body, headers = CASES[case]
    direct = _direct(monkeypatch, client, world.mcp_token, body, headers)
    sdk = _sdk(monkeypatch, client, world.mcp_token, body, headers)
    assert direct.status_code == 200
    assert _wire(direct) == _wire(sdk)


@pytest.mark.django_db
def test_a_read_reaches_the_provider_once_per_call(world, monkeypatch, client, fake):
    body, headers = _call(*READ, modern=True)
    answer = _direct(monkeypatch, client, world.mcp_token, body, headers).json()["result"]
    assert answer["structuredContent"]["data"]["full_name"] == "octo/hello"
    assert answer["resultType"] == "complete"
    assert "io.modelcontextprotocol/serverInfo" in answer["_meta"]
    assert len(fake.requests_to("/github/repos/octo/hello")) == 1


NOT_PLAIN = {
    "tools/list": ({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}, {}),
    "a batch": ([_call(*READ)[0]], {}),
    "a notification": ({"jsonrpc": "2.0", "method": "tools/call", "params": {}}, {}),
    "not JSON": ("{", {}),
    "nested deeper than Python's recursion limit": ("[" * 100_000, {}),
    "an unknown protocol version": (_call(*READ)[0], {"HTTP_MCP_PROTOCOL_VERSION": "1999-01-01"}),
    "2026 without its envelope": (
        _call(*READ)[0],
        {"HTTP_MCP_PROTOCOL_VERSION": MODERN, "HTTP_MCP_METHOD": "tools/call"},
    ),
    "2026 header naming another tool": (
        _call(*READ, modern=True)[0],
        {**_call(*READ, modern=True)[1], "HTTP_MCP_NAME": "github.repos.list"},
    ),
    "2026 with Mcp-Param headers": (
        _call(*READ, modern=True)[0],
        {**_call(*READ, modern=True)[1], "HTTP_MCP_PARAM_OWNER": "octo"},
    ),
    "params not an object": (
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": "x"},
        {},
    ),
    "a retry with request_state": (
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {**_call(*READ, modern=True)[0]["params"], "requestState": "forged"},
        },
        _call(*READ, modern=True)[1],
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", NOT_PLAIN)
def test_anything_else_goes_to_the_sdk(case, world, monkeypatch, client):
    body, headers = NOT_PLAIN[case]
    served = []
    real_serve = mcp_server._serve

    async def counted(*args):
        served.append(args)
        return await real_serve(*args)

    monkeypatch.setattr(mcp_server, "_serve", counted)
    response = _post(client, world.mcp_token, body, headers)
    assert served, "the SDK answered"
    assert response.status_code < 500


@pytest.mark.django_db
def test_a_failing_tool_is_an_internal_error_without_its_details(world, monkeypatch, client):
    def broken(request, spec, arguments):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(mcp_calls, "run_tool", broken)
    for body, headers in (_call(*READ), _call(*READ, modern=True)):
        response = _direct(monkeypatch, client, world.mcp_token, body, headers)
        assert response.status_code == 200
        assert response.json()["error"] == {"code": -32603, "message": "Internal server error"}
        assert "secret" not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_sdk_clients_tool_calls_take_the_direct_path(live_server, fake, client, monkeypatch):
    world = make_world(fake, client)
    token, url = world.token(), live_server.url + "/mcp"
    bind(token, url)
    through_sdk = []
    real_serve = mcp_server._serve

    async def recorded(request, tools):
        through_sdk.append(json.loads(request.body).get("method"))
        return await real_serve(request, tools)

    monkeypatch.setattr(mcp_server, "_serve", recorded)
    (read,) = _run(url, token, [lambda s: s.call_tool(*READ)])
    assert not read.is_error
    assert read.structured_content["data"]["full_name"] == "octo/hello"
    assert through_sdk, "discovery and the rest still go to the SDK"
    assert "tools/call" not in through_sdk
