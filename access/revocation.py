"""Revocation from the dashboard: what will stop working (pure), and doing it (through the
owning layers' services: consent for grants, connections for connections)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from access.selectors import AccessOverview, ConnectionView, GrantView
from connections.services import connection_disconnect
from consent.services import grant_revoke


@dataclass(frozen=True, slots=True)
class Consequence:
    app_name: str
    grant_id: int
    # Service names the app loses; ``everything`` when its whole access goes.
    services: tuple[str, ...]
    everything: bool


@dataclass(frozen=True, slots=True)
class RevocationPlan:
    grant: GrantView | None
    connections: tuple[ConnectionView, ...]
    consequences: tuple[Consequence, ...]


def plan_revocation(
    overview: AccessOverview, *, grant_id: int | None = None, connection_ids=()
) -> RevocationPlan:
    """Which apps lose which services if this grant and/or these connections are revoked.

    Pure: works on the dashboard's overview. Raises LookupError for an id that is not the
    person's (the view answers 404).
    """
    grants = {g.id: g for g in overview.grants}
    connections = {c.id: c for c in overview.connections}
    grant = None
    if grant_id is not None:
        grant = grants.get(grant_id)
        if grant is None:
            raise LookupError(grant_id)
    chosen = []
    for connection_id in connection_ids:
        if connection_id not in connections:
            raise LookupError(connection_id)
        chosen.append(connections[connection_id])

    lost: dict[int, list[str]] = {}
    for connection in chosen:
        for _app_name, gid in connection.used_by:
            lost.setdefault(gid, [])
            if connection.service_name not in lost[gid]:
                lost[gid].append(connection.service_name)
    consequences = []
    if grant is not None:
        everything = tuple(s.service_name for s in grant.services)
        consequences.append(Consequence(grant.app.name, grant.id, everything, True))
    for gid, services in lost.items():
        if grant is not None and gid == grant.id:
            continue
        consequences.append(Consequence(grants[gid].app.name, gid, tuple(services), False))
    return RevocationPlan(grant, tuple(chosen), tuple(consequences))


def revocation_execute(*, plan: RevocationPlan, actor, reason: str = "") -> None:
    """Revoke the plan's grant (consent.services.grant_revoke) and disconnect its connections
    (connections.services.connection_disconnect); each records its own audit event."""
    with transaction.atomic():
        if plan.grant is not None:
            grant_revoke(grant=plan.grant.grant, actor=actor, reason=reason)
    for connection in plan.connections:
        # Disconnecting calls the provider (network): not inside the grant's transaction.
        connection_disconnect(connection=connection.connection, actor=actor)
