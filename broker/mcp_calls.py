"""Answering one MCP ``tools/call``: the broker's one code path, and the result the client gets.

Synchronous (the ORM) and transport-free: the SDK's server (``broker.mcp_server``) and the
direct JSON-RPC path (``broker.mcp_direct``) both answer a call with :func:`answer_tool_call`, so
a tool call means the same whichever of them carried it.

Every tool call is :func:`broker.services.broker_call`, the REST API's code path: policy, grant,
resource narrowing, rate limits, held writes, audit. A held write answers a result that says so,
with the approvals page and an id for the ``pending_action`` tool; a client that supports URL
elicitation (2026-07-28) is first asked to show the person that page.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
from django.core import signing
from django.urls import reverse
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from apps_registry import audience
from broker import exceptions, services
from broker.mcp_tools import PENDING_ACTION_TOOL, ArgumentError, ToolSpec, call_arguments

# The server's identity, as the SDK's ``Server`` takes it (also stamped on 2026-era results).
SERVER_IDENTITY = {
    "name": "agent-access-platform",
    "title": "Agent Access Platform",
    "instructions": (
        "Tools act on the person's GitHub, Slack and Google Drive within what they approved. "
        "A change may wait for their approval: poll it with the pending_action tool."
    ),
}


def as_tool(spec: ToolSpec) -> types.Tool:
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_schema,
        annotations=types.ToolAnnotations(
            title=spec.title,
            read_only_hint=spec.read_only,
            destructive_hint=spec.destructive,
            idempotent_hint=spec.idempotent,
            open_world_hint=spec.scope is not None,
        ),
    )


def _text_result(text: str, data: Any, *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(text=text)],
        structured_content=data if isinstance(data, dict) else {"result": data},
        is_error=error,
    )


def _error_result(problem: exceptions.BrokerError) -> types.CallToolResult:
    error = {"code": problem.code, "message": problem.message, **problem.details}
    return _text_result(f"{problem.code}: {problem.message}", {"error": error}, error=True)


def _pending_result(request, data: dict) -> types.CallToolResult:
    action = dict(data["pending_action"])
    action["approval_url"] = request.build_absolute_uri(reverse("consent:approvals"))
    text = (
        f"Not done yet: this change waits for the person's approval at {action['approval_url']}. "
        f"Call the {PENDING_ACTION_TOOL} tool with id {action['id']} to learn the outcome."
    )
    return _text_result(text, {"pending_action": action})


def run_tool(request, spec: ToolSpec, arguments: dict | None) -> types.CallToolResult:
    """One tool call, through the broker's one code path."""
    try:
        if spec.name == PENDING_ACTION_TOOL:
            action_id = (arguments or {}).get("id")
            if isinstance(action_id, bool) or not isinstance(action_id, int) or action_id < 1:
                raise ArgumentError("'id' must be a positive whole number.")
            result = services.action_status(
                request=request, action_id=action_id, audience=audience.MCP
            )
            if result.data["pending_action"]["status"] == "pending":
                return _pending_result(request, result.data)
            return _text_result(json.dumps(result.data), result.data)
        params, query, body = call_arguments(spec, arguments)
        result = services.broker_call(
            request=request,
            operation=spec.operation,
            scope=spec.operation.scope,
            params=params,
            query=query,
            body=body,
            audience=audience.MCP,
            token=getattr(request, "platform_token", None),
        )
    except ArgumentError as problem:
        return _error_result(exceptions.InvalidRequest(str(problem)))
    except exceptions.BrokerError as problem:
        return _error_result(problem)
    if result.status == 202 and isinstance(result.data, dict) and "pending_action" in result.data:
        return _pending_result(request, result.data)
    if result.content is not None:
        text = result.content.decode("utf-8", errors="replace")
        return _text_result(text, {"content_type": result.content_type, "text": text})
    return _text_result(json.dumps(result.data, ensure_ascii=False), result.data)


# ---- held writes: tell the person too, where the client can (URL-mode elicitation) -------------
_STATE_SALT = "broker.mcp.held-write"


def can_show_urls(protocol_version: str | None, capabilities: Any) -> bool:
    """2026-07-28 multi-round-trip requests, and a client that declared URL elicitation."""
    elicitation = getattr(capabilities, "elicitation", None)
    return (
        protocol_version in MODERN_PROTOCOL_VERSIONS
        and elicitation is not None
        and elicitation.url is not None
    )


def _ask_the_person(action: dict) -> types.InputRequiredResult:
    """Ask the client to show the person the approvals page; its retry (carrying the signed
    ``request_state``) gets the held write's status."""
    return types.InputRequiredResult(
        input_requests={
            "approval": types.ElicitRequest(
                params=types.ElicitRequestURLParams(
                    message=(
                        "The agent wants to make a change that waits for your approval: "
                        f"{action.get('operation')} on {action.get('resource')}."
                    ),
                    url=action["approval_url"],
                    elicitation_id=f"pending-action-{action['id']}",
                )
            )
        },
        request_state=signing.dumps({"action": action["id"]}, salt=_STATE_SALT),
    )


def _held_action(state: str) -> int | None:
    """The pending action id in a ``request_state`` this server signed (the pending_action tool
    still checks that it belongs to the caller's grant)."""
    try:
        value = signing.loads(state, salt=_STATE_SALT, max_age=24 * 3600)
    except signing.BadSignature:
        return None
    action_id = value.get("action") if isinstance(value, dict) else None
    return action_id if isinstance(action_id, int) else None


def answer_tool_call(
    request,
    tools: dict[str, ToolSpec],
    params: types.CallToolRequestParams,
    *,
    protocol_version: str | None,
    capabilities: Any,
) -> types.CallToolResult | types.InputRequiredResult:
    """The answer to ``tools/call`` with these (validated) params, among the caller's tools."""
    spec = tools.get(params.name)
    if spec is None:
        return _error_result(exceptions.NotFound(f"No tool named {params.name!r}."))
    arguments = params.arguments
    if params.request_state:
        # The retry after the person was shown the approvals page (below): the write was
        # held once already; answer its status instead of holding it twice.
        action_id = _held_action(params.request_state)
        if action_id is None:
            return _error_result(exceptions.InvalidRequest("Unknown request_state."))
        spec, arguments = tools[PENDING_ACTION_TOOL], {"id": action_id}
    result = run_tool(request, spec, arguments)
    action = (result.structured_content or {}).get("pending_action")
    if (
        action
        and action.get("status") == "pending"
        and not params.request_state
        and spec.name != PENDING_ACTION_TOOL
        and can_show_urls(protocol_version, capabilities)
    ):
        return _ask_the_person(action)
    return result
