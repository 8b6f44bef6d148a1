"""The "Your access" grid: apps as rows, services as columns, one cell per app and service.

Built from :func:`access.selectors.access_overview` (no extra query), plus the apps whose access
ended ("past apps"), which come from the same grants query.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from access.selectors import AccessOverview, GrantView, service_name
from consent.catalog import CATALOG, SERVICES


@dataclass(slots=True)
class Cell:
    grant: GrantView
    service: str
    service_name: str
    scopes: list = field(default_factory=list)  # ScopeView of this service
    reads: bool = False
    writes: bool = False
    resources: list[str] = field(default_factory=list)
    connection_label: str = ""
    last_used_at: dt.datetime | None = None

    @property
    def empty(self) -> bool:
        return not self.scopes

    @property
    def key(self) -> str:
        return f"{self.grant.id}-{self.service}"

    @property
    def scope_names(self) -> list[str]:
        return [s.name for s in self.scopes]


@dataclass(slots=True)
class Row:
    grant: GrantView
    cells: list[Cell]
    other_scopes: list  # scopes of no service (profile, background, unattended writes)


@dataclass(slots=True)
class Column:
    service: str
    name: str
    connections: list  # ConnectionView of this service
    apps: int


def access_grid(overview: AccessOverview) -> tuple[list[Column], list[Row]]:
    used = {s.service for g in overview.grants for s in g.services}
    connected = {c.service for c in overview.connections}
    order = [s for s in SERVICES if s in used | connected]
    order += sorted((used | connected) - set(order))
    rows = []
    for grant in overview.grants:
        uses = {u.service: u for u in grant.services}
        cells = []
        for service in order:
            cell = Cell(grant=grant, service=service, service_name=service_name(service))
            for scope in grant.scopes:
                if scope.service != service:
                    continue
                cell.scopes.append(scope)
                entry = CATALOG.get(scope.name)
                if entry is not None and entry.is_write:
                    cell.writes = True
                else:
                    cell.reads = True
                for r in scope.resources:
                    label = r.get("label") or r.get("id")
                    if label not in cell.resources:
                        cell.resources.append(label)
            use = uses.get(service)
            if use is not None:
                cell.last_used_at = use.last_used_at
                if use.connection is not None:
                    c = use.connection.connection
                    cell.connection_label = c.login or c.provider_account_id
            cells.append(cell)
        other = [s for s in grant.scopes if s.service is None]
        rows.append(Row(grant=grant, cells=cells, other_scopes=other))
    columns = [
        Column(
            service=service,
            name=service_name(service),
            connections=[c for c in overview.connections if c.service == service],
            apps=sum(
                1
                for row in rows
                for cell in row.cells
                if cell.service == service and not cell.empty
            ),
        )
        for service in order
    ]
    return columns, rows


@dataclass(slots=True)
class PastApp:
    app: object
    ended_at: dt.datetime | None
    why: str
    services: list[str]


def past_apps(grants, *, now: dt.datetime) -> list[PastApp]:
    """Apps whose access ended: revoked (with the reason given) or expired."""
    out = []
    for grant in grants:
        services = sorted(
            {
                service_name(CATALOG[s].service)
                for s in grant.scopes
                if s in CATALOG and CATALOG[s].service
            }
        )
        if grant.revoked_at is not None:
            why = grant.revoke_reason or "Access was revoked."
            out.append(PastApp(grant.app, grant.revoked_at, why, services))
        elif grant.expires_at is not None and grant.expires_at <= now:
            out.append(
                PastApp(grant.app, grant.expires_at, "The access you chose ran out.", services)
            )
    out.sort(key=lambda p: p.ended_at or now, reverse=True)
    return out
