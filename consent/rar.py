"""RFC 9396 rich authorization requests: resource narrowing on the wire.

An app (REST or MCP) may send ``authorization_details`` with its authorization request::

    [{"type": "github_repository", "actions": ["read"], "identifier": "octo-demo/docs"}]

Each type is one (service, resource kind) of the catalog (``AUTHORIZATION_DETAILS_TYPES``); each
action maps to that service's read or write scope. The details add those scopes to the request
and preselect the named resources on the consent screen, where the person can still change them.
What is granted is the grant's selection, so the broker enforces it exactly like a selection made
on the screen, and the token response and introspection report it back (:func:`granted_details`).

Everything here is plain data: no request, no database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from connections.providers.kinds import canonical_or_error
from consent.catalog import AUTHORIZATION_DETAILS_TYPES, CATALOG, Access

ACTIONS = ("read", "write")
FIELDS = {"type", "actions", "identifier"}
MAX_DETAILS = 20
MAX_BYTES = 8 * 1024
ERROR = "invalid_authorization_details"


class InvalidAuthorizationDetails(ValueError):
    """The ``authorization_details`` value is malformed or names what the platform does not
    know; the message is one sentence for the developer (RFC 9396 5: ``invalid_authorization_details``)."""

    error = ERROR


@dataclass(frozen=True, slots=True)
class Detail:
    type: str
    actions: tuple[str, ...]
    identifier: str  # canonical resource id


def _scope_for(type_name: str, action: str) -> str | None:
    service, kind = AUTHORIZATION_DETAILS_TYPES[type_name]
    access = Access.READ if action == "read" else Access.WRITE
    for scope in CATALOG.values():
        if scope.service == service and scope.resource_kind == kind and scope.access == access:
            return scope.name
    return None


def parse(raw: str | None) -> tuple[Detail, ...]:
    """Parse and validate an ``authorization_details`` parameter (JSON text). Empty: ()."""
    if raw is None or raw == "":
        return ()
    if len(raw.encode("utf-8")) > MAX_BYTES:
        raise InvalidAuthorizationDetails("authorization_details is too long.")
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidAuthorizationDetails("authorization_details must be JSON.") from None
    if not isinstance(value, list) or not value:
        raise InvalidAuthorizationDetails("authorization_details must be a non-empty JSON array.")
    if len(value) > MAX_DETAILS:
        raise InvalidAuthorizationDetails(f"At most {MAX_DETAILS} authorization_details entries.")
    details = []
    for index, entry in enumerate(value):
        where = f"authorization_details[{index}]"
        if not isinstance(entry, dict):
            raise InvalidAuthorizationDetails(f"{where} must be an object.")
        type_name = entry.get("type")
        if not isinstance(type_name, str) or not type_name:
            raise InvalidAuthorizationDetails(f"{where} needs a type.")
        if type_name not in AUTHORIZATION_DETAILS_TYPES:
            known = ", ".join(sorted(AUTHORIZATION_DETAILS_TYPES))
            raise InvalidAuthorizationDetails(
                f"{where}: unknown type {type_name!r} (supported: {known})."
            )
        unknown = sorted(set(entry) - FIELDS)
        if unknown:
            raise InvalidAuthorizationDetails(f"{where}: unsupported field {unknown[0]!r}.")
        actions = entry.get("actions", ["read"])
        if (
            not isinstance(actions, list)
            or not actions
            or not all(isinstance(a, str) and a in ACTIONS for a in actions)
        ):
            raise InvalidAuthorizationDetails(
                f'{where}: actions must be a non-empty array of "read" and "write".'
            )
        if any(_scope_for(type_name, a) is None for a in actions):
            raise InvalidAuthorizationDetails(f"{where}: {type_name} has no such action.")
        identifier = entry.get("identifier")
        if not isinstance(identifier, str):
            raise InvalidAuthorizationDetails(f"{where} needs an identifier (a string).")
        _service, kind = AUTHORIZATION_DETAILS_TYPES[type_name]
        try:
            canonical = canonical_or_error(kind, identifier)
        except ValueError:
            raise InvalidAuthorizationDetails(
                f"{where}: {identifier!r} is not a {kind} identifier."
            ) from None
        details.append(Detail(type_name, tuple(dict.fromkeys(actions)), canonical))
    return tuple(details)


def scopes_for(details) -> list[str]:
    """The catalog scopes the details ask for, in catalog order."""
    wanted = {_scope_for(d.type, a) for d in details for a in d.actions}
    return [name for name in CATALOG if name in wanted]


def preselection(details) -> dict[str, list[str]]:
    """Scope -> resource ids the details name (what the consent screen ticks)."""
    chosen: dict[str, list[str]] = {}
    for d in details:
        for action in d.actions:
            ids = chosen.setdefault(_scope_for(d.type, action), [])
            if d.identifier not in ids:
                ids.append(d.identifier)
    return chosen


def covered_by(details, resources: dict) -> bool:
    """Are all the details' resources already selected in a grant's ``resources``?"""
    for scope, ids in preselection(details).items():
        have = {r["id"] for r in resources.get(scope, [])}
        if not set(ids) <= have:
            return False
    return True


def granted_details(scopes, resources: dict) -> list[dict]:
    """What a token with ``scopes`` may reach, as ``authorization_details`` (RFC 9396 7): one
    entry per selected resource of every type, with the actions its scopes allow."""
    entries: dict[tuple[str, str], dict] = {}
    for type_name in AUTHORIZATION_DETAILS_TYPES:
        for action in ACTIONS:
            scope = _scope_for(type_name, action)
            if scope is None or scope not in scopes:
                continue
            for resource in resources.get(scope, []):
                entry = entries.setdefault(
                    (type_name, resource["id"]),
                    {"type": type_name, "actions": [], "identifier": resource["id"]},
                )
                if action not in entry["actions"]:
                    entry["actions"].append(action)
    return [entries[key] for key in sorted(entries)]
