"""The consent engine: what an authorization request needs, as pure functions over plain data.

No ORM, no request, no clock: callers load the app, the person's connections and the grant into
the frozen dataclasses below, pass the time in, and get a :class:`Decision` back. The consent
screen renders the decision; the approval is checked again with
``consent.approval_plan.resolve_approval``.

For each requested scope the outcome is one of :class:`Outcome`:

- ``GRANTED``: the live grant already covers it (shown, not asked again);
- ``NEW``: not granted yet, and a connection the person has can serve it;
- ``NEEDS_CONNECTION``: the service is not connected at all ("Connect Slack");
- ``NEEDS_UPGRADE``: the service is connected, but without the provider scopes it needs
  ("Upgrade GitHub access");
- ``IMPOSSIBLE``: it cannot be granted, and ``reason`` says why;
- ``DECLINED``: optional, and the person declined it last time: not asked again (unless the app
  sends ``prompt=consent`` or a screen is shown anyway, where it is offered, unticked).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from consent.catalog import (
    BACKGROUND_SCOPE,
    CATALOG,
    SERVICES,
    Scope,
    is_platform_choice,
)


class Outcome(StrEnum):
    GRANTED = "granted"
    NEW = "new"
    NEEDS_CONNECTION = "needs_connection"
    NEEDS_UPGRADE = "needs_upgrade"
    IMPOSSIBLE = "impossible"
    DECLINED = "declined"


SATISFIABLE = frozenset({Outcome.GRANTED, Outcome.NEW, Outcome.DECLINED})
SETTLED = frozenset({Outcome.GRANTED, Outcome.DECLINED})
ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class AppInfo:
    """What the app may ask for: scope name -> required (True) or optional (False)."""

    allowed: Mapping[str, bool]
    may_request_background: bool = False
    suspended: bool = False
    suspension_reason: str = ""


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    id: int
    provider: str
    service: str
    scopes: frozenset[str]
    status: str = ACTIVE
    label: str = ""

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE


@dataclass(frozen=True, slots=True)
class GrantInfo:
    scopes: frozenset[str]
    connections: Mapping[str, int] = field(default_factory=dict)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    # Optional scopes the person declined before (not asked again unless prompt=consent).
    declined: frozenset[str] = frozenset()

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True, slots=True)
class UpgradeNeed:
    """A connection that lacks provider scopes; ``scopes`` is the full set to ask the provider."""

    connection_id: int
    provider: str
    missing: tuple[str, ...]
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ConnectNeed:
    provider: str
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScopeDecision:
    name: str
    outcome: Outcome
    declinable: bool
    reason: str = ""
    # Connections that can serve this scope on its own (empty unless GRANTED or NEW).
    candidates: tuple[int, ...] = ()

    @property
    def scope(self) -> Scope | None:
        return CATALOG.get(self.name)

    @property
    def service(self) -> str | None:
        scope = self.scope
        return scope.service if scope else None

    @property
    def is_platform_choice(self) -> bool:
        return is_platform_choice(self.name)


@dataclass(frozen=True, slots=True)
class ServicePlan:
    """One service the request touches: which connection serves it and what is missing."""

    service: str
    scopes: tuple[str, ...]
    # Connections that serve every satisfiable requested scope of the service.
    candidates: tuple[int, ...]
    # The connection the grant already uses for this service, if it is still active.
    pinned: int | None
    upgrades: tuple[UpgradeNeed, ...]
    connects: tuple[ConnectNeed, ...]

    @property
    def needs_choice(self) -> bool:
        return self.pinned is None and len(self.candidates) > 1


@dataclass(frozen=True, slots=True)
class Decision:
    scopes: tuple[ScopeDecision, ...]
    services: tuple[ServicePlan, ...]
    grant_live: bool
    suspended: bool
    suspension_reason: str
    prompt_consent: bool

    def by_outcome(self, outcome: Outcome) -> tuple[ScopeDecision, ...]:
        return tuple(d for d in self.scopes if d.outcome == outcome)

    def get(self, name: str) -> ScopeDecision | None:
        return next((d for d in self.scopes if d.name == name), None)

    def service(self, service: str) -> ServicePlan | None:
        return next((p for p in self.services if p.service == service), None)

    @property
    def all_granted(self) -> bool:
        """Everything is granted, or was declined before; at least one scope is granted."""
        return all(d.outcome in SETTLED for d in self.scopes) and any(
            d.outcome == Outcome.GRANTED for d in self.scopes
        )

    @property
    def granted_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.scopes if d.outcome == Outcome.GRANTED)

    @property
    def needs_screen(self) -> bool:
        """False only when the live grant covers everything and the app did not ask to prompt."""
        return self.suspended or self.prompt_consent or not self.grant_live or not self.all_granted

    @property
    def blockers(self) -> tuple[ScopeDecision, ...]:
        """Scopes the person cannot decline that cannot be granted as things stand."""
        return tuple(d for d in self.scopes if not d.declinable and d.outcome not in SATISFIABLE)

    @property
    def can_approve(self) -> bool:
        return not self.suspended and not self.blockers and bool(self.scopes)


def _needed_provider_scopes(names: Iterable[str]) -> dict[str, set[str]]:
    needed: dict[str, set[str]] = {}
    for name in names:
        for provider, provider_scopes in CATALOG[name].provider_scopes.items():
            needed.setdefault(provider, set()).update(provider_scopes)
    return needed


def connection_serves(connection: ConnectionInfo, names: Iterable[str]) -> bool:
    """Whether an active connection holds every provider scope the given platform scopes need."""
    if not connection.is_active:
        return False
    for name in names:
        scope = CATALOG.get(name)
        if scope is None or scope.service is None:
            continue
        if scope.service != connection.service:
            return False
        required = scope.provider_scopes.get(connection.provider)
        if required is None or not set(required) <= connection.scopes:
            return False
    return True


def _pinned(service: str, grant: GrantInfo | None, live: bool, active: list[ConnectionInfo]):
    if grant is None or not live:
        return None
    pinned_id = grant.connections.get(service)
    return pinned_id if any(c.id == pinned_id for c in active) else None


def decide(
    *,
    app: AppInfo,
    requested: Iterable[str],
    connections: Iterable[ConnectionInfo],
    grant: GrantInfo | None,
    now: datetime,
    available_providers: Iterable[str] = (),
    prompt_consent: bool = False,
) -> Decision:
    """Compare what the app asks for with what exists. See the module docstring."""
    requested = list(dict.fromkeys(requested))  # de-duplicated, order kept
    connections = list(connections)
    available = set(available_providers)
    live = grant is not None and grant.is_live(now)
    granted = grant.scopes if live and grant is not None else frozenset()
    declined_before = (
        grant.declined if live and grant is not None and not prompt_consent else frozenset()
    )
    active_by_service: dict[str, list[ConnectionInfo]] = {}
    for connection in connections:
        if connection.is_active:
            active_by_service.setdefault(connection.service, []).append(connection)

    decisions: list[ScopeDecision] = []
    for name in requested:
        scope = CATALOG.get(name)
        declinable = is_platform_choice(name) or app.allowed.get(name) is False
        if scope is None:
            decisions.append(
                ScopeDecision(name, Outcome.IMPOSSIBLE, True, "The platform has no such scope.")
            )
            continue
        if name not in app.allowed:
            decisions.append(
                ScopeDecision(
                    name, Outcome.IMPOSSIBLE, declinable, "This app is not allowed to ask for it."
                )
            )
            continue
        if name == BACKGROUND_SCOPE and not app.may_request_background:
            decisions.append(
                ScopeDecision(
                    name,
                    Outcome.IMPOSSIBLE,
                    True,
                    "This app is not approved to act while you are away.",
                )
            )
            continue
        if scope.service is None:
            if name in granted:
                outcome = Outcome.GRANTED
            elif declinable and name in declined_before:
                outcome = Outcome.DECLINED
            else:
                outcome = Outcome.NEW
            decisions.append(ScopeDecision(name, outcome, declinable))
            continue
        service = scope.service
        active = active_by_service.get(service, [])
        pinned = _pinned(service, grant, live, active)
        pool = [c for c in active if c.id == pinned] if pinned is not None else active
        serving = tuple(c.id for c in pool if connection_serves(c, [name]))
        service_name = SERVICES[service].name if service in SERVICES else service
        if name in granted:
            # Covered by the grant. Whether its connection works is checked on every broker call
            # (connection_needs_reauthorization), not by asking for consent again.
            decisions.append(ScopeDecision(name, Outcome.GRANTED, declinable, candidates=serving))
        elif serving:
            outcome = Outcome.DECLINED if declinable and name in declined_before else Outcome.NEW
            decisions.append(ScopeDecision(name, outcome, declinable, candidates=serving))
        elif pool:
            decisions.append(
                ScopeDecision(
                    name,
                    Outcome.NEEDS_UPGRADE,
                    declinable,
                    f"Your {service_name} connection does not allow this yet.",
                )
            )
        elif available.intersection(scope.provider_scopes):
            decisions.append(
                ScopeDecision(
                    name,
                    Outcome.NEEDS_CONNECTION,
                    declinable,
                    f"You have not connected {service_name}.",
                )
            )
        else:
            decisions.append(
                ScopeDecision(
                    name,
                    Outcome.IMPOSSIBLE,
                    declinable,
                    f"{service_name} cannot be connected on this platform.",
                )
            )

    plans: list[ServicePlan] = []
    services = list(dict.fromkeys(d.service for d in decisions if d.service))
    for service in services:
        names = tuple(
            d.name for d in decisions if d.service == service and d.outcome != Outcome.IMPOSSIBLE
        )
        if not names:
            continue
        active = active_by_service.get(service, [])
        pinned = _pinned(service, grant, live, active)
        pool = [c for c in active if c.id == pinned] if pinned is not None else active
        needed = _needed_provider_scopes(names)
        candidates = tuple(c.id for c in pool if connection_serves(c, names))
        upgrades = []
        for connection in pool:
            missing = needed.get(connection.provider, set()) - connection.scopes
            if missing:
                upgrades.append(
                    UpgradeNeed(
                        connection.id,
                        connection.provider,
                        tuple(sorted(missing)),
                        tuple(sorted(connection.scopes | needed[connection.provider])),
                    )
                )
        connects = ()
        if not active:
            connects = tuple(
                ConnectNeed(provider, tuple(sorted(needed[provider])))
                for provider in sorted(needed)
                if provider in available
            )
        plans.append(ServicePlan(service, names, candidates, pinned, tuple(upgrades), connects))

    return Decision(
        scopes=tuple(decisions),
        services=tuple(plans),
        grant_live=live,
        suspended=app.suspended,
        suspension_reason=app.suspension_reason,
        prompt_consent=prompt_consent,
    )
