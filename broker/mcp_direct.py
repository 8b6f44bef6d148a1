"""``tools/call`` answered directly, without the SDK's transport around it.

The SDK's streamable HTTP transport is asynchronous: under WSGI every exchange costs an event
loop (``async_to_sync``), a session manager and its task group, a stateless transport and its
streams, and a hop back into the request's thread for the ORM (``sync_to_async``): about 3 ms of
CPU per call, more than the brokered call itself. A tool call needs none of it in JSON-response
mode: one JSON-RPC request in, one response out, and the answer is synchronous anyway
(:func:`broker.mcp_calls.answer_tool_call`).

So the plain case, a single ``tools/call`` request that the SDK would accept as it is, is
answered here, in the request's thread, with the SDK's own validation and serialisation (its
``mcp_types`` surface for the protocol version, the 2026-07-28 classification ladder and
``Mcp-Param`` header check, its JSON-RPC models and wire options). Anything else, or anything this
path is not sure of (another method, a batch, a notification, an unknown or mismatched protocol
version, a rejection of any rung, a retry carrying ``request_state``, ``Mcp-Param-*`` headers, an
Accept without JSON), returns ``None`` and goes to the SDK unchanged, which gives its own answer,
errors included. ``tests/broker/test_mcp_direct.py`` sends the same requests both ways and
compares status, content type and body.

One deliberate difference: an unexpected exception in the tool (a bug: broker errors are tool
results) answers JSON-RPC ``INTERNAL_ERROR`` "Internal server error" in both protocol eras, and
is logged; the SDK's 2025-era path would put ``str(exception)`` on the wire with code 0.
"""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import mcp_types as types
from django.http import HttpResponse
from mcp.server.connection import Connection
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http import check_accept_headers
from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    MCP_PARAM_HEADER_PREFIX,
    MCP_PROTOCOL_VERSION_HEADER,
    InboundLadderRejection,
    classify_inbound_request,
    validate_mcp_param_headers,
)
from mcp_types import methods as surface
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from broker.mcp_calls import SERVER_IDENTITY, answer_tool_call
from broker.mcp_tools import ToolSpec

logger = logging.getLogger(__name__)

METHOD = "tools/call"
_CONTENT_TYPE = "application/json"
_PARAM_PREFIX = MCP_PARAM_HEADER_PREFIX.lower()
# Built once for its identity: the ``serverInfo`` stamp the SDK puts on 2026-era results.
_IDENTITY = Server(**SERVER_IDENTITY)


class _Fallback(Exception):
    """Not the plain case: the SDK answers this request."""


def answer_directly(request, tools: dict[str, ToolSpec], message: Any) -> HttpResponse | None:
    """The response to a plain ``tools/call`` (``message``: the body's decoded JSON, ``None``
    when it is not JSON), or ``None`` for the SDK to answer."""
    try:
        return _answer(request, tools, message)
    except _Fallback:
        return None


def _answer(request, tools: dict[str, ToolSpec], message: Any) -> HttpResponse:
    if request.method != "POST" or request.content_type != _CONTENT_TYPE:
        raise _Fallback
    headers = {name.lower(): value for name, value in request.headers.items()}
    has_json, _ = check_accept_headers(SimpleNamespace(headers=headers))
    if not has_json:
        raise _Fallback
    if not (isinstance(message, dict) and message.get("method") == METHOD and "id" in message):
        raise _Fallback
    header_version = headers.get(MCP_PROTOCOL_VERSION_HEADER.lower())
    if header_version is None or header_version in HANDSHAKE_PROTOCOL_VERSIONS:
        return _answer_handshake_era(request, tools, message, header_version)
    if header_version in MODERN_PROTOCOL_VERSIONS:
        return _answer_modern(request, tools, message, headers)
    raise _Fallback


def _validated(message: dict, version: str) -> tuple[types.JSONRPCRequest, Any]:
    """The request and its params as the SDK's server validates them for ``version``."""
    try:
        rpc = types.JSONRPCRequest.model_validate(message, by_name=False)
        surface.validate_client_request(METHOD, version, rpc.params)
        params = types.CallToolRequestParams.model_validate(rpc.params or {}, by_name=False)
    except (ValidationError, KeyError):
        raise _Fallback from None
    if params.request_state:
        raise _Fallback
    return rpc, params


def _result(request, tools, params, version: str, capabilities: Any) -> dict | types.ErrorData:
    """The call's wire result as the SDK's runner shapes it, or the error it answers."""
    try:
        answer = answer_tool_call(
            request, tools, params, protocol_version=version, capabilities=capabilities
        )
        dumped = answer.model_dump(by_alias=True, mode="json", exclude_none=True)
        return surface.serialize_server_result(METHOD, version, dumped)
    except Exception:
        logger.exception("MCP tool call failed")
        return types.ErrorData(code=types.INTERNAL_ERROR, message="Internal server error")


def _answer_handshake_era(request, tools, message: dict, header_version: str | None):
    """2025-era, stateless: the SDK's legacy transport in JSON-response mode."""
    version = header_version or types.DEFAULT_NEGOTIATED_VERSION
    rpc, params = _validated(message, version)
    # A stateless 2025-era exchange carries no client capabilities (no initialize).
    result = _result(request, tools, params, version, None)
    if isinstance(result, types.ErrorData):
        reply = types.JSONRPCError(jsonrpc="2.0", id=rpc.id, error=result)
    else:
        reply = types.JSONRPCResponse(jsonrpc="2.0", id=rpc.id, result=result)
    return HttpResponse(
        reply.model_dump_json(by_alias=True, exclude_unset=True), content_type=_CONTENT_TYPE
    )


def _answer_modern(request, tools, message: dict, headers: dict[str, str]):
    """2026-07-28: the SDK's single-exchange entry in JSON-response mode."""
    # (The SDK's duplicated-routing-header rung cannot fire under WSGI on either path: the server
    # folds repeated headers into one value before Django or the SDK bridge sees them.)
    if any(name.startswith(_PARAM_PREFIX) for name in headers):
        raise _Fallback
    verdict = classify_inbound_request(message, headers=headers)
    if isinstance(verdict, InboundLadderRejection):
        raise _Fallback
    rpc, params = _validated(message, verdict.protocol_version)
    spec = tools.get(params.name)
    if (
        spec is not None
        and params.arguments
        and validate_mcp_param_headers(spec.input_schema, params.arguments, headers) is not None
    ):
        raise _Fallback
    connection = Connection.from_envelope(
        verdict.protocol_version, verdict.client_info, verdict.client_capabilities
    )
    result = _result(
        request, tools, params, verdict.protocol_version, connection.client_capabilities
    )
    if isinstance(result, types.ErrorData):
        reply = types.JSONRPCError(jsonrpc="2.0", id=rpc.id, error=result)
        status = ERROR_CODE_HTTP_STATUS.get(result.code, 200)
    else:
        _stamp(result)
        reply = types.JSONRPCResponse(jsonrpc="2.0", id=rpc.id, result=result)
        status = 200
    body = reply.model_dump(mode="json", by_alias=True, exclude_none=True)
    return HttpResponse(
        json.dumps(body, separators=(",", ":")), status=status, content_type=_CONTENT_TYPE
    )


def _stamp(result: dict) -> None:
    """``resultType`` and the ``serverInfo`` stamp, as the SDK's runner adds them (2026 era)."""
    if result.get("resultType") is None:
        result["resultType"] = "complete"
    meta = result.get("_meta")
    key = types.SERVER_INFO_META_KEY
    if meta is None:
        result["_meta"] = {key: _IDENTITY.server_info_stamp}
    elif isinstance(meta, dict) and meta.get(key) is None:
        result["_meta"] = {**meta, key: _IDENTITY.server_info_stamp}
