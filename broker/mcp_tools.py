"""The broker's operations as MCP tools, generated from the same declarations as the REST API.

One :class:`ToolSpec` per operation: the tool's name is the operation's stable name
(``github.issues.create``), its input schema comes from the route parameters, the pagination
declaration and the body fields, and its annotations from the operation (a read is
``readOnlyHint``; a write that only adds things, which is every write the broker has, is not
destructive). :func:`call_arguments` splits a tool call's arguments back into the route
parameters, query and body that :func:`broker.services.broker_call` takes, so a tool call and
a REST call go through one code path.

Plus one platform tool, ``pending_action``: the status (and, once performed, the outcome) of a
write that waits for the person's approval.

Plain data and functions: no request, no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from connections.providers.operations import Operation

PENDING_ACTION_TOOL = "pending_action"
_ROUTE_PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
_JSON_TYPES = {str: "string", int: "integer", bool: "boolean"}


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    title: str
    description: str
    scope: str | None  # None: any token of a live grant may call it
    input_schema: dict
    read_only: bool
    destructive: bool
    idempotent: bool
    operation: Operation | None = None


def route_params(operation: Operation) -> list[tuple[str, str]]:
    """``(name, converter)`` of each route parameter, in route order."""
    return [(m["name"], m["converter"] or "str") for m in _ROUTE_PARAM.finditer(operation.route)]


def _param_schema(operation: Operation, name: str, converter: str) -> dict:
    if converter == "int":
        return {"type": "integer", "minimum": 1, "description": f"The {name}."}
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if name in operation.resource_params and operation.resource_kind:
        schema["description"] = (
            f"Part of the {operation.resource_kind} id; it must be one the person selected."
        )
    elif converter == "path":
        schema["description"] = f"The {name} (may contain /)."
    else:
        schema["description"] = f"The {name}."
    return schema


def input_schema(operation: Operation) -> dict:
    properties: dict[str, dict] = {}
    required: list[str] = []
    for name, converter in route_params(operation):
        properties[name] = _param_schema(operation, name, converter)
        required.append(name)
    if operation.pagination is not None:
        properties["page"] = {"type": "string", "description": "The next_page cursor."}
        properties["page_size"] = {
            "type": "integer",
            "minimum": 1,
            "maximum": operation.pagination.size,
        }
    for spec in operation.body_fields:
        schema: dict[str, Any] = {"type": _JSON_TYPES.get(spec.kind, "string")}
        if spec.kind is str:
            schema["maxLength"] = spec.max_length
        properties[spec.name] = schema
        if spec.required:
            required.append(spec.name)
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def tool_for(operation: Operation) -> ToolSpec:
    verb = "Changes" if operation.is_write else "Reads"
    note = (
        " Without unattended writes, the person approves it first: the result then says so and "
        f"gives an id to poll with the {PENDING_ACTION_TOOL} tool."
        if operation.is_write
        else ""
    )
    return ToolSpec(
        name=operation.name,
        title=operation.summary,
        description=(
            f"{operation.summary}. {verb} data at {operation.service} through the platform, "
            f"within what the person selected (scope {operation.scope}).{note}"
        ),
        scope=operation.scope,
        input_schema=input_schema(operation),
        read_only=not operation.is_write,
        # Every broker write adds (an issue, a comment, a message, a file); none deletes or
        # overwrites, so none is destructive in MCP's sense.
        destructive=operation.http_method in {"DELETE", "PUT", "PATCH"},
        idempotent=operation.idempotent,
        operation=operation,
    )


PENDING_ACTION = ToolSpec(
    name=PENDING_ACTION_TOOL,
    title="Status of a held write",
    description=(
        "The status of a change that waits for the person's approval (pending, approved, "
        "performing, rejected, expired, succeeded, failed, outcome_unknown) and, once performed, its outcome."
    ),
    scope=None,
    input_schema={
        "type": "object",
        "properties": {"id": {"type": "integer", "minimum": 1}},
        "required": ["id"],
        "additionalProperties": False,
    },
    read_only=True,
    destructive=False,
    idempotent=True,
)


def tools_for(operations) -> dict[str, ToolSpec]:
    tools = {op.name: tool_for(op) for op in operations}
    tools[PENDING_ACTION_TOOL] = PENDING_ACTION
    return tools


class ArgumentError(ValueError):
    """The arguments do not fit the tool's input schema; the message says which."""


def call_arguments(tool: ToolSpec, arguments: dict | None) -> tuple[dict, dict, dict | None]:
    """``(params, query, body)`` for :func:`broker.services.broker_call`."""
    arguments = dict(arguments or {})
    schema = tool.input_schema
    unknown = sorted(set(arguments) - set(schema["properties"]))
    if unknown:
        raise ArgumentError(f"Unknown argument {unknown[0]!r}.")
    missing = [name for name in schema["required"] if arguments.get(name) in (None, "")]
    if missing:
        raise ArgumentError(f"Missing argument {missing[0]!r}.")
    operation = tool.operation
    params: dict[str, str] = {}
    for name, converter in route_params(operation):
        value = arguments.pop(name)
        if converter == "int":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ArgumentError(f"{name!r} must be a positive whole number.")
        elif not isinstance(value, str):
            raise ArgumentError(f"{name!r} must be a string.")
        elif converter != "path" and "/" in value:
            raise ArgumentError(f"{name!r} must not contain '/'.")
        params[name] = str(value)
    query: dict[str, str] = {}
    for name in ("page", "page_size"):
        if name in arguments:
            query[name] = str(arguments.pop(name))
    body = None
    if operation.is_write:
        body = {}
        for spec in operation.body_fields:
            if spec.name in arguments:
                value = arguments.pop(spec.name)
                if not isinstance(value, spec.kind):
                    raise ArgumentError(f"{spec.name!r} must be a {_JSON_TYPES[spec.kind]}.")
                body[spec.name] = value
    return params, query, body
