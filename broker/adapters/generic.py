"""Broker operations of data-declared providers (PROVIDERS_FILE ``operations``), as the same
:class:`Operation` declarations the built-in adapters use (routes, MCP tools and checks read them
alike). One entry::

    {"name": "acme.projects.get", "summary": "Get a selected project", "method": "GET",
     "route": "acme/projects/<str:project>", "path": "/projects/{project}",
     "scope": "services.acme.projects.read", "resource_kind": "project",
     "resource_params": ["project"]}

plus, for a list narrowed to the selection, ``"list": {"items": ["items"], "id": "id"}``; for a
write, ``"write": true`` and ``"body": [{"name": "text", "max_length": 1000}]``.
"""

from __future__ import annotations

from broker.adapters.base import Adapter, BodyField, ListFilter, Operation

_ALLOWED = {
    "name", "summary", "method", "route", "path", "scope", "resource_kind", "resource_params",
    "list", "body", "write", "query",
}  # fmt: skip


def _id_of(field: str):
    def id_of(item):
        value = item.get(field)
        return [value] if isinstance(value, str) else []

    return id_of


def operation_from_data(service: str, entry: dict) -> Operation:
    unknown = set(entry) - _ALLOWED
    if unknown:
        raise ValueError(f"Operation {entry.get('name')!r}: unknown fields {sorted(unknown)}.")
    listing = entry.get("list")
    return Operation(
        name=str(entry["name"]),
        service=service,
        summary=str(entry.get("summary", entry["name"])),
        method=str(entry.get("method", "GET")).upper(),
        route=str(entry["route"]),
        upstream_path=str(entry["path"]),
        scope=str(entry["scope"]),
        upstream_query=dict(entry.get("query", {})),
        resource_kind=entry.get("resource_kind"),
        resource_params=tuple(entry.get("resource_params", ())),
        list_filter=ListFilter(
            items_key=tuple(listing.get("items", ())), id_of=_id_of(listing.get("id", "id"))
        )
        if listing
        else None,
        body_fields=tuple(
            BodyField(
                str(b["name"]),
                required=bool(b.get("required", True)),
                max_length=int(b.get("max_length", 65_536)),
            )
            for b in entry.get("body", ())
        ),
        is_write=bool(entry.get("write", False)),
    )


class GenericAdapter(Adapter):
    def __init__(self, spec):
        self.service = spec.service
        self.operations = tuple(operation_from_data(spec.service, o) for o in spec.operations)
