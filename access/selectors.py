"""Reads for the "Your access" dashboard: a fixed number of queries, whatever the counts.

``access_overview`` loads the person's connections, grants (with apps) and last use per grant and
service in three queries, then assembles plain dataclasses; ``activity`` pages the events about
the person (``audit.selectors.activity``); ``describe`` words an event for people. Nothing
here writes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from audit.actions import Action, Outcome
from audit.models import AuditEvent
from audit.selectors import last_successful_calls
from connections.providers import UnknownProvider, get_provider
from connections.selectors import connections_for_user
from consent.catalog import BACKGROUND_SCOPE, CATALOG, SERVICES, UNATTENDED_WRITES_SCOPE
from consent.selectors import grants_for_user, standing_approvals_for


@dataclass(slots=True)
class ConnectionView:
    connection: object
    provider_name: str
    service: str
    service_name: str
    is_sandbox: bool
    # (app name, grant id) pairs that use this connection: what stops working if it is revoked.
    used_by: list = field(default_factory=list)

    @property
    def id(self):
        return self.connection.pk


@dataclass(slots=True)
class ScopeView:
    name: str
    sentence: str
    service: str | None
    resources: list[dict]
    resource_kind: str | None


@dataclass(slots=True)
class ServiceUse:
    service: str
    service_name: str
    connection: ConnectionView | None
    last_used_at: dt.datetime | None


@dataclass(slots=True)
class GrantView:
    grant: object
    app: object
    scopes: list[ScopeView]
    services: list[ServiceUse]
    background: bool
    unattended_writes: bool
    expired: bool
    last_used_at: dt.datetime | None
    # Active "approve similar for 24 h" approvals on this grant.
    standing: list = field(default_factory=list)

    @property
    def id(self):
        return self.grant.pk


@dataclass(slots=True)
class AccessOverview:
    connections: list[ConnectionView]
    grants: list[GrantView]
    # Every app the person ever granted (revoked ones too), for the activity filter.
    apps: list[tuple[int, str]]
    # Every grant, revoked ones too (for "past apps").
    all_grants: list = field(default_factory=list)


def _provider(provider_id: str):
    try:
        return get_provider(provider_id)
    except UnknownProvider:
        return None


def service_name(service: str) -> str:
    entry = SERVICES.get(service)
    return entry.name if entry else service


def access_overview(*, user, now: dt.datetime | None = None) -> AccessOverview:
    now = now or timezone.now()
    connections = list(connections_for_user(user=user))
    all_grants = grants_for_user(user=user)
    live = [g for g in all_grants if g.revoked_at is None]
    last_use = last_successful_calls(user=user, grant_ids=[g.pk for g in live])
    standing: dict[int, list] = {}
    for approval in standing_approvals_for(user=user, now=now):
        standing.setdefault(approval.grant_id, []).append(approval)

    by_id: dict[int, ConnectionView] = {}
    connection_views = []
    for connection in connections:
        spec = _provider(connection.provider)
        service = spec.service if spec else connection.provider.removeprefix("sandbox_")
        view = ConnectionView(
            connection=connection,
            provider_name=spec.name if spec else connection.provider,
            service=service,
            service_name=service_name(service),
            is_sandbox=spec.is_sandbox if spec else connection.provider.startswith("sandbox_"),
        )
        by_id[connection.pk] = view
        connection_views.append(view)

    grant_views = []
    for grant in live:
        scopes = []
        services: list[str] = []
        for name in grant.scopes:
            entry = CATALOG.get(name)
            scopes.append(
                ScopeView(
                    name=name,
                    sentence=entry.sentence if entry else name,
                    service=entry.service if entry else None,
                    resources=list(grant.resources.get(name, [])),
                    resource_kind=entry.resource_kind if entry else None,
                )
            )
            if entry and entry.service and entry.service not in services:
                services.append(entry.service)
        uses = []
        for service in services:
            connection_id = grant.connections.get(service)
            connection = by_id.get(int(connection_id)) if str(connection_id).isdigit() else None
            if connection is not None:
                connection.used_by.append((grant.app.name, grant.pk))
            uses.append(
                ServiceUse(
                    service=service,
                    service_name=service_name(service),
                    connection=connection,
                    last_used_at=last_use.get((grant.pk, service)),
                )
            )
        recorded = [u.last_used_at for u in uses if u.last_used_at] + (
            [grant.last_used_at] if grant.last_used_at else []
        )
        grant_views.append(
            GrantView(
                grant=grant,
                app=grant.app,
                scopes=scopes,
                services=uses,
                background=BACKGROUND_SCOPE in grant.scopes,
                unattended_writes=UNATTENDED_WRITES_SCOPE in grant.scopes,
                expired=grant.expires_at is not None and grant.expires_at <= now,
                last_used_at=max(recorded) if recorded else None,
                standing=standing.get(grant.pk, []),
            )
        )
    apps = sorted({(g.app_id, g.app.name) for g in all_grants}, key=lambda a: a[1].lower())
    return AccessOverview(
        connections=connection_views, grants=grant_views, apps=apps, all_grants=all_grants
    )


# --- plain-language lines -------------------------------------------------------------------

_WRITE_VERBS = {
    "services.github.repositories.write": "wrote to",
    "services.slack.messages.write": "posted in",
    "services.google.drive.files.write": "created a file in",
}


# Calls to the platform itself (not brokered to a provider) read better as what they did.
_PLATFORM_CALLS = {
    "platform.me": "read your name and e-mail address",
    "platform.token": "checked what it may do",
    "platform.action": "checked on an action waiting for you",
}


def _resource_phrase(event: AuditEvent) -> str:
    entry = CATALOG.get(event.scope)
    kind = entry.resource_kind if entry and entry.resource_kind else ""
    if not event.resource:
        return f"{service_name(event.service)}" if event.service else "your account"
    return f"{kind} {event.resource}".strip()


def describe(event: AuditEvent, *, viewer=None) -> str:
    """One sentence a person understands, e.g. "Acme Notes read repository octo/docs, in the
    background". The time is shown beside it, once (the activity list groups by day)."""
    app = event.app_label or "An app"
    if event.actor_user_id is not None and viewer is not None and event.actor_user_id == viewer.pk:
        actor = "You"
    elif event.actor_type == "app":
        actor = app
    elif event.actor_type == "staff":
        actor = "An administrator"
    elif event.actor_type == "system":
        actor = "The platform"
    else:
        actor = event.actor_label or "Someone"
    background = ", in the background" if event.background else ""
    if event.action == Action.API_CALL:
        platform_call = _PLATFORM_CALLS.get((event.metadata or {}).get("operation", ""))
        if platform_call and event.outcome == Outcome.SUCCESS:
            return f"{app} {platform_call}{background}"
        verb = _WRITE_VERBS.get(event.scope, "read")
        phrase = _resource_phrase(event)
        if event.outcome == Outcome.SUCCESS:
            return f"{app} {verb} {phrase}{background}"
        if event.outcome == Outcome.PENDING:
            return f"{app} asked to change {phrase}: it waits for your approval{background}"
        why = f" ({event.reason})" if event.reason else ""
        return f"{app} was refused: {verb} {phrase}{background}{why}"
    if event.action == Action.CONSENT_SHOWN:
        return f"{app} asked you for access"
    if event.action == Action.PENDING_ACTION_APPROVED and (event.metadata or {}).get(
        "standing_approval"
    ):
        return f"{app} changed {_resource_phrase(event)}: approved by your 24-hour approval"
    if event.action == Action.PENDING_ACTION_CREATED:
        return f"{app} asked to change {_resource_phrase(event)}: it waits for your approval"
    label = Action(event.action).label if event.action in Action.values else event.action
    subject = f" for {app}" if event.app_label and actor != app else ""
    where = f" ({service_name(event.service)})" if event.service else ""
    outcome = (
        ""
        if event.outcome in (Outcome.SUCCESS, Outcome.PENDING)
        else f", {event.get_outcome_display().lower()}"
    )
    return f"{actor}: {label.lower()}{subject}{where}{background}{outcome}"
