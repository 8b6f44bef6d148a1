"""The MCP endpoint (/mcp): resource-server behaviour over plain HTTP, and tools generated from
the operation declarations, called with the unmodified SDK client against a live server."""

from __future__ import annotations

import json

import httpx2
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from oauth2_provider.models import AccessToken

from audit.actions import Action
from audit.models import AuditEvent
from broker.mcp_tools import PENDING_ACTION_TOOL, ArgumentError, call_arguments, tools_for
from connections.providers import all_operations
from tests.broker.conftest import GH_READ, GH_WRITE, make_world
from tests.broker.person import run_async

OPERATIONS = list(all_operations().values())
MCP_PATH = "/mcp"
# Plain JSON-RPC on the stateless transport (the SDK client itself is used further down).
RPC_HEADERS = {"HTTP_ACCEPT": "application/json, text/event-stream"}


def bind(raw_token: str, *audiences: str) -> None:
    from apps_registry.oauth import checksum

    AccessToken.objects.filter(token_checksum=checksum(raw_token)).update(resource=list(audiences))


def rpc(client, token, method, params=None, **extra):
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    headers = {**RPC_HEADERS, **extra}
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client.post(MCP_PATH, json.dumps(body), content_type="application/json", **headers)


# ---- tools from declarations (pure) ------------------------------------------------------------
def test_every_operation_is_a_tool_with_schema_and_hints():
    tools = tools_for(OPERATIONS)
    assert set(tools) == {op.name for op in OPERATIONS} | {PENDING_ACTION_TOOL}
    create = tools["github.issues.create"]
    assert create.input_schema["required"] == ["owner", "repo", "title"]
    assert create.input_schema["properties"]["title"] == {"type": "string", "maxLength": 256}
    assert create.input_schema["additionalProperties"] is False
    assert not create.read_only and not create.destructive
    listing = tools["github.repos.list"]
    assert listing.read_only and "page" in listing.input_schema["properties"]
    contents = tools["github.contents.get"]
    assert "may contain /" in contents.input_schema["properties"]["path"]["description"]


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"owner": "octo"}, "Missing argument 'repo'"),
        ({"owner": "octo", "repo": "hello", "extra": 1}, "Unknown argument 'extra'"),
        ({"owner": "octo/x", "repo": "hello", "title": "t"}, "must not contain '/'"),
        ({"owner": 1, "repo": "hello", "title": "t"}, "must be a string"),
        ({"owner": "octo", "repo": "hello", "title": 5}, "'title' must be a string"),
    ],
)
def test_arguments_are_checked_against_the_schema(arguments, says):
    tool = tools_for(OPERATIONS)["github.issues.create"]
    with pytest.raises(ArgumentError, match=says):
        call_arguments(tool, arguments)


def test_arguments_split_into_route_query_and_body():
    tools = tools_for(OPERATIONS)
    assert call_arguments(
        tools["github.issues.create"], {"owner": "o", "repo": "r", "title": "T"}
    ) == ({"owner": "o", "repo": "r"}, {}, {"title": "T"})
    assert call_arguments(tools["github.repos.list"], {"page": "2", "page_size": 5}) == (
        {},
        {"page": "2", "page_size": "5"},
        None,
    )


# ---- the resource server -------------------------------------------------------------------------
@pytest.mark.django_db
def test_no_token_is_401_with_resource_metadata_and_scope(client):
    response = rpc(client, None, "tools/list")
    assert response.status_code == 401
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert (
        'resource_metadata="http://testserver/.well-known/oauth-protected-resource/mcp"'
        in challenge
    )
    assert 'scope="identity.profile.read services.github.repositories.read' in challenge
    assert "offline_access" not in challenge
    assert "error=" not in challenge, "no error code when no credentials were sent (RFC 6750 3.1)"


@pytest.mark.django_db
def test_audience_binding_both_ways(fake, client):
    world = make_world(fake, client)
    mcp, api = "http://testserver/mcp", "http://testserver/api/v1"
    for_mcp, for_api, for_both, unbound = (world.token() for _ in range(4))
    bind(for_mcp, mcp)
    bind(for_api, api)
    bind(for_both, mcp, api)
    # /api/v1: its own tokens, tokens for both, and tokens that predate resource indicators.
    assert world.get("me", token=for_api).status_code == 200
    assert world.get("me", token=for_both).status_code == 200
    assert world.get("me", token=unbound).status_code == 200
    refused = world.get("me", token=for_mcp)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_token"
    assert "resource=http://testserver/api/v1" in refused.json()["error"]["message"]
    assert refused["WWW-Authenticate"] == (
        'Bearer error="invalid_token", '
        'resource_metadata="http://testserver/.well-known/oauth-protected-resource/api/v1"'
    )
    # /mcp: only tokens bound to it.
    assert rpc(client, for_mcp, "tools/list").status_code == 200
    assert rpc(client, for_both, "tools/list").status_code == 200
    for token in (for_api, unbound):
        answer = rpc(client, token, "tools/list")
        assert answer.status_code == 401
        assert 'error="invalid_token"' in answer["WWW-Authenticate"]
        assert "resource_metadata=" in answer["WWW-Authenticate"]


@pytest.mark.django_db
def test_only_granted_tools_are_listed(fake, client):
    world = make_world(fake, client, scopes=[GH_READ])
    token = world.token()
    bind(token, "http://testserver/mcp")
    tools = rpc(client, token, "tools/list").json()["result"]["tools"]
    names = {t["name"] for t in tools}
    assert names == {
        "github.repos.list",
        "github.repos.get",
        "github.contents.get",
        "github.issues.list",
        PENDING_ACTION_TOOL,
    }
    get = next(t for t in tools if t["name"] == "github.repos.get")
    assert get["annotations"]["readOnlyHint"] is True
    assert get["inputSchema"]["required"] == ["owner", "repo"]


@pytest.mark.django_db
def test_a_tool_needing_a_missing_scope_is_a_403_step_up(fake, client):
    world = make_world(fake, client, scopes=[GH_READ])
    token = world.token()
    bind(token, "http://testserver/mcp")
    arguments = {"owner": "octo", "repo": "hello", "title": "Hi"}
    response = rpc(
        client, token, "tools/call", {"name": "github.issues.create", "arguments": arguments}
    )
    assert response.status_code == 403
    challenge = response["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert f'scope="{GH_WRITE}"' in challenge
    assert "resource_metadata=" in challenge
    assert not fake.issues


@pytest.mark.django_db
@pytest.mark.parametrize("name", [["github.repos.get"], {"n": 1}, 7, None])
def test_a_tool_name_that_is_not_a_string_is_a_json_rpc_error(fake, client, name):
    world = make_world(fake, client)
    token = world.token()
    bind(token, "http://testserver/mcp")
    response = rpc(client, token, "tools/call", {"name": name, "arguments": {}})
    assert response.status_code in (200, 400), response.content
    assert "error" in response.content.decode() or '"isError":true' in response.content.decode()
    assert not fake.seen


@pytest.mark.django_db
def test_a_revoked_grant_is_401(fake, client):
    world = make_world(fake, client)
    token = world.token()
    bind(token, "http://testserver/mcp")
    from consent.services import grant_revoke

    grant_revoke(grant=world.grant, actor=world.user, reason="test")
    assert rpc(client, token, "tools/list").status_code == 401


# ---- the SDK client against a live server ---------------------------------------------------------------
def _run(url, token, calls):
    async def main():
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
            Client(streamable_http_client(url, http_client=http)) as session,
        ):
            return [await call(session) for call in calls]

    return run_async(main)


@pytest.mark.django_db(transaction=True)
def test_tools_through_the_sdk_client_share_the_broker_path(live_server, fake, client):
    from config.celery import app as celery

    world = make_world(fake, client)
    token = world.token()
    url = live_server.url + MCP_PATH
    bind(token, url)
    read, unselected, held = _run(
        url,
        token,
        [
            lambda s: s.call_tool("github.repos.get", {"owner": "Octo", "repo": "Hello"}),
            lambda s: s.call_tool("github.repos.get", {"owner": "octo", "repo": "secret"}),
            lambda s: s.call_tool(
                "github.issues.create", {"owner": "octo", "repo": "hello", "title": "From MCP"}
            ),
        ],
    )
    assert not read.is_error
    assert read.structured_content["data"]["full_name"] == "octo/hello"
    assert fake.requests_to("/github/repos/octo/hello"), "over HTTP, at the fake provider"
    assert unselected.is_error
    assert unselected.structured_content["error"]["code"] == "resource_not_granted"
    assert not held.is_error
    action = held.structured_content["pending_action"]
    assert action["status"] == "pending"
    assert action["approval_url"] == live_server.url + "/consent/approvals/"
    assert "waits for the person's approval" in held.content[0].text
    assert not fake.issues
    # The person approves; the platform performs it; the agent polls.
    from consent.services import pending_action_approve

    before = celery.conf.task_always_eager
    celery.conf.task_always_eager = True
    try:
        pending_action_approve(action_id=action["id"], user=world.user)
    finally:
        celery.conf.task_always_eager = before
    assert [i["title"] for i in fake.issues] == ["From MCP"]
    (polled,) = _run(url, token, [lambda s: s.call_tool(PENDING_ACTION_TOOL, {"id": action["id"]})])
    assert polled.structured_content["pending_action"]["status"] == "succeeded"
    # Audited like REST calls: one API_CALL row per brokered call.
    operations = list(
        AuditEvent.objects.filter(action=Action.API_CALL).values_list(
            "metadata__operation", flat=True
        )
    )
    assert operations.count("github.repos.get") == 2
    assert "github.issues.create" in operations


@pytest.mark.django_db
def test_a_registration_access_token_calls_nothing(client):
    body = {"client_name": "x", "redirect_uris": ["http://127.0.0.1:1/cb"]}
    registered = client.post(
        "/oauth/register/", json.dumps(body), content_type="application/json"
    ).json()
    token = registered["registration_access_token"]
    for path in ("/api/v1/me", "/api/v1/token"):
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 401, path
    assert rpc(client, token, "tools/list").status_code == 401


@pytest.mark.django_db
def test_a_suspended_app_is_refused_in_the_one_error_shape(fake, client):
    world = make_world(fake, client)
    token = world.token()
    bind(token, "http://testserver/mcp")
    from apps_registry.services import app_suspend

    app_suspend(app=world.app, actor=None, reason="test")
    response = rpc(client, token, "tools/list")
    assert response.status_code in (401, 403)
    assert response.json()["error"] in ("invalid_token", "app_suspended")
