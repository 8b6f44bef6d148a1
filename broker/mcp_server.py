"""The MCP endpoint, ``/mcp``: the broker's operations as MCP tools over streamable HTTP.

Built on the official ``mcp`` SDK (its low-level ``Server`` and ``StreamableHTTPSessionManager``)
in its stateless, JSON-response mode: each POST is one exchange, so the endpoint is an ordinary
Django view and runs under the same WSGI workers as everything else. The view bridges the
request into the SDK's ASGI app with ``async_to_sync``; the SDK's tool handlers call back into the
broker with ``sync_to_async`` (the request's own thread, so its database connection). A plain
``tools/call`` skips that bridge: ``broker.mcp_direct`` answers it in the request's thread with the
SDK's own validation and serialisation, and hands everything else to the SDK.

The view is the resource server (MCP authorization specification):

- no token, or a token whose RFC 8707 audience is not this endpoint: ``401`` with
  ``WWW-Authenticate: Bearer resource_metadata="...", scope="..."`` (RFC 9728 discovery);
- ``tools/call`` of a tool whose scope the token or grant lacks: ``403`` with
  ``WWW-Authenticate: Bearer error="insufficient_scope", scope="<the tool's scope>"``, the
  step-up the SDK's client answers by asking the person for just that (the consent screen
  shows only the delta);
- ``tools/list`` lists only the tools the grant covers now.

Every tool call is :func:`broker.mcp_calls.answer_tool_call`, through the REST API's code path.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import mcp_types as types
from asgiref.sync import async_to_sync, sync_to_async
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from apps_registry import audience
from apps_registry.metadata import resource_metadata_url
from broker import exceptions, services
from broker.mcp_calls import SERVER_IDENTITY, answer_tool_call, as_tool
from broker.mcp_direct import answer_directly
from broker.mcp_tools import ToolSpec, tools_for
from connections.providers import all_operations
from consent.catalog import CATALOG, Access

MAX_BODY = 1024 * 1024
TOOLS: dict[str, ToolSpec] = tools_for(all_operations().values())


def _tools() -> dict[str, ToolSpec]:
    """Every operation declaration as a tool, plus ``pending_action`` (built once: data)."""
    return TOOLS


def minimal_scopes() -> list[str]:
    """What the 401 challenge asks for first: reading (more comes by step-up)."""
    return [s.name for s in CATALOG.values() if s.access == Access.READ]


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _challenge(request, *, error: str = "", description: str = "", scope: str = "") -> str:
    parts = []
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{_quote(description)}"')
    if scope:
        parts.append(f'scope="{scope}"')
    parts.append(f'resource_metadata="{resource_metadata_url(request, audience.MCP)}"')
    return "Bearer " + ", ".join(parts)


def _unauthorized(request, description: str, *, error: str = "invalid_token") -> HttpResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=401)
    response["WWW-Authenticate"] = _challenge(
        request,
        error=error if request.META.get("HTTP_AUTHORIZATION") else "",
        description=description if request.META.get("HTTP_AUTHORIZATION") else "",
        scope=" ".join(minimal_scopes()),
    )
    response["Cache-Control"] = "no-store"
    return response


def _insufficient_scope(request, scope: str, description: str) -> HttpResponse:
    response = JsonResponse(
        {"error": "insufficient_scope", "error_description": description, "scope": scope},
        status=403,
    )
    response["WWW-Authenticate"] = _challenge(
        request, error="insufficient_scope", description=description, scope=scope
    )
    return response


def covered_scopes(token, grant) -> set[str]:
    """Scopes both the token and the person's grant (as it is now) hold."""
    if grant is None:
        return set()
    return set(token.scope.split()) & set(grant.scopes)


def _decoded(body: bytes) -> Any:
    """The body's JSON, read once for the step-up check and the direct path (None when it is not
    JSON: the SDK answers that)."""
    try:
        return json.loads(body or b"null")
    except (ValueError, RecursionError):
        return None


def _rpc_requests(payload: Any) -> list[dict]:
    messages = payload if isinstance(payload, list) else [payload]
    return [m for m in messages if isinstance(m, dict)]


def _called_service(tools: dict[str, ToolSpec], payload: Any) -> str | None:
    """The service of the one tool a single ``tools/call`` names: its connection is read with
    the token (one statement, as a REST call's), not by the tool call afterwards."""
    calls = [m for m in _rpc_requests(payload) if m.get("method") == "tools/call"]
    if len(calls) != 1:
        return None
    tool = _named_tool(tools, calls[0].get("params"))
    return tool.operation.service if tool is not None and tool.operation is not None else None


def _named_tool(tools: dict[str, ToolSpec], params: Any) -> ToolSpec | None:
    name = params.get("name") if isinstance(params, dict) else None
    return tools.get(name) if isinstance(name, str) else None


@csrf_exempt
def mcp_endpoint(request):
    if request.method not in ("POST", "GET", "DELETE"):
        return HttpResponse(status=405, headers={"Allow": "POST"})
    tools = _tools()
    # Read once, for the connection hint here, the step-up check and the direct path; a body
    # over the limit is refused after authentication, unread.
    payload = _decoded(request.body) if len(request.body) <= MAX_BODY else None
    service = _called_service(tools, payload)
    try:
        if service is not None:  # one tool call: counted while the token is checked, as REST
            token = services.authenticate_for_call(
                request=request, audience=audience.MCP, service=service
            )
        else:
            token = services.token_authenticate(request=request, audience=audience.MCP)
        grant = services.grant_for_token(token=token, request=request)
    except (exceptions.InvalidToken, exceptions.GrantRevoked) as problem:
        # A token of a revoked grant is no longer valid: 401, so the client asks the person
        # again (MCP: invalid tokens MUST receive 401).
        return _unauthorized(request, problem.message)
    except exceptions.BrokerError as problem:
        return JsonResponse(
            {"error": problem.code, "error_description": problem.message},
            status=problem.status_code,
        )
    if grant is None or not grant.is_live():
        return _unauthorized(request, "The person's approval for this app has ended.")
    # The tool call runs in this request, a moment later: it uses this token, and the connection
    # read with it, instead of reading them again (broker_call checks everything else).
    request.platform_token = token
    if len(request.body) > MAX_BODY:
        return JsonResponse({"error": "request_too_large"}, status=413)
    covered = covered_scopes(token, grant)
    for message in _rpc_requests(payload):
        if message.get("method") != "tools/call":
            continue
        tool = _named_tool(tools, message.get("params"))
        if tool is not None and tool.scope and tool.scope not in covered:
            return _insufficient_scope(
                request,
                tool.scope,
                f"{tool.name} needs {tool.scope}: {CATALOG[tool.scope].sentence}.",
            )
    listed = {name: t for name, t in tools.items() if t.scope is None or t.scope in covered}
    direct = answer_directly(request, listed, payload)
    return direct if direct is not None else async_to_sync(_serve)(request, listed)


# ---- the SDK side ----------------------------------------------------------------------------------


def _server(request, tools: dict[str, ToolSpec]) -> Server:
    async def list_tools(ctx, params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[as_tool(t) for t in tools.values()])

    async def call_tool(ctx, params: types.CallToolRequestParams):
        # In the request's own thread: its database connection, as the direct path.
        return await sync_to_async(answer_tool_call, thread_sensitive=True)(
            request,
            tools,
            params,
            protocol_version=ctx.protocol_version,
            capabilities=getattr(ctx.session, "client_capabilities", None),
        )

    return Server(**SERVER_IDENTITY, on_list_tools=list_tools, on_call_tool=call_tool)


def _scope(request) -> dict:
    headers = [
        (key[5:].replace("_", "-").lower().encode("latin-1"), value.encode("latin-1"))
        for key, value in request.META.items()
        if key.startswith("HTTP_") and isinstance(value, str)
    ]
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if request.META.get(key):
            headers.append((key.replace("_", "-").lower().encode(), request.META[key].encode()))
    host = request.get_host()
    name, _, port = host.partition(":")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.path.encode(),
        "query_string": request.META.get("QUERY_STRING", "").encode(),
        "root_path": "",
        "headers": headers,
        "client": (request.META.get("REMOTE_ADDR", ""), 0),
        "server": (name, int(port or (443 if request.is_secure() else 80))),
    }


async def _serve(request, tools: dict[str, ToolSpec]) -> HttpResponse:
    manager = StreamableHTTPSessionManager(
        app=_server(request, tools),
        json_response=True,
        stateless=True,
        # Django checked the Host header (ALLOWED_HOSTS) before this view ran.
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        max_request_body_size=MAX_BODY,
    )
    body = request.body
    delivered = anyio.Event()
    started: dict = {}
    chunks: list[bytes] = []

    async def receive():
        if not delivered.is_set():
            delivered.set()
            return {"type": "http.request", "body": body, "more_body": False}
        await anyio.sleep_forever()

    async def send(message):
        if message["type"] == "http.response.start":
            started.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    async with manager.run():
        await manager.handle_request(_scope(request), receive, send)
    response = HttpResponse(b"".join(chunks), status=started.get("status", 500))
    for key, value in started.get("headers", []):
        name = key.decode("latin-1")
        if name.lower() not in ("content-length",):
            response[name] = value.decode("latin-1")
    return response
