"""Reads for the consent layer: load rows into the engine's plain data."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db.models import Count

from connections.providers import UnknownProvider, available_providers, get_provider
from connections.resources import list_resources as fetch
from connections.selectors import connections_for_user
from consent.catalog import PROVIDER_SERVICES
from consent.engine import AppInfo, ConnectionInfo, GrantInfo
from consent.models import EndedGrantToken, Grant, PendingAction, StandingApproval

log = logging.getLogger(__name__)


def provider_service(provider_id: str) -> str | None:
    try:
        return get_provider(provider_id).service
    except UnknownProvider:
        return PROVIDER_SERVICES.get(provider_id)


def provider_name(provider_id: str) -> str:
    try:
        return get_provider(provider_id).name
    except UnknownProvider:
        return provider_id


def available_provider_ids() -> list[str]:
    """Providers a person can connect now (registry: sandbox, or real ones with credentials)."""
    return [p.id for p in available_providers()]


def app_info(app) -> AppInfo:
    return AppInfo(
        allowed={s.scope: s.required for s in app.allowed_scopes.all()},
        may_request_background=app.may_request_background,
        suspended=app.is_suspended,
        suspension_reason=app.suspension_reason,
    )


def connection_info(connection) -> ConnectionInfo | None:
    service = provider_service(connection.provider)
    if service is None:
        return None
    return ConnectionInfo(
        id=connection.pk,
        provider=connection.provider,
        service=service,
        scopes=frozenset(connection.scopes or ()),
        status=connection.status,
        label=connection.login or connection.display_name or connection.provider_account_id,
    )


def person_connections(user) -> tuple[list, list[ConnectionInfo]]:
    rows = list(connections_for_user(user=user))
    infos = [info for info in (connection_info(c) for c in rows) if info is not None]
    return rows, infos


def grants_using_connection(*, connection) -> list[Grant]:
    """Live app grants whose ``connections`` JSON names this connection (read-only)."""
    grants = Grant.objects.filter(user=connection.user, revoked_at__isnull=True).select_related(
        "app"
    )
    return [
        g for g in grants if connection.pk in {_as_int(v) for v in (g.connections or {}).values()}
    ]


def _as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def grants_for_user(*, user) -> list[Grant]:
    """Every grant the person ever made (revoked ones too), with its app, by app name."""
    return list(
        Grant.objects.filter(user=user)
        .select_related("app__publisher", "app__client")
        .order_by("app__name", "pk")
    )


def grant_for(user, app) -> Grant | None:
    return Grant.objects.filter(user=user, app=app).first()


def grant_info(grant: Grant | None) -> GrantInfo | None:
    if grant is None:
        return None
    return GrantInfo(
        scopes=frozenset(grant.scopes),
        connections={k: int(v) for k, v in grant.connections.items()},
        expires_at=grant.expires_at,
        revoked_at=grant.revoked_at,
        declined=frozenset(grant.declined_scopes or ()),
    )


@dataclass(frozen=True, slots=True)
class ResourceListing:
    items: tuple[dict, ...]
    error: str = ""


def list_resources(connection, kind: str) -> ResourceListing:
    """The person's resources of ``kind`` through ``connection``, as ``{"id", "label"}`` dicts."""
    try:
        found = fetch(connection, kind)
    except Exception:
        log.warning("listing %s for connection %s failed", kind, connection.pk, exc_info=True)
        return ResourceListing((), "The list could not be loaded from the provider right now.")
    items = []
    for resource in found:
        rid = getattr(resource, "id", None) or (
            resource.get("id") if isinstance(resource, dict) else None
        )
        label = getattr(resource, "label", None) or (
            resource.get("label") if isinstance(resource, dict) else None
        )
        private = getattr(resource, "private", None)
        if isinstance(resource, dict):
            private = resource.get("private")
        if rid:
            items.append({"id": str(rid), "label": str(label or rid), "private": private})
    return ResourceListing(tuple(items))


def pending_actions_for(user):
    return (
        PendingAction.objects.filter(grant__user=user)
        .select_related("grant__app__publisher")
        .order_by("-created_at")
    )


def standing_approvals_for(*, user, now):
    """The person's active "approve similar for 24 h" approvals, newest first (one query)."""
    return list(
        StandingApproval.objects.filter(grant__user=user, ended_at__isnull=True, expires_at__gt=now)
        .annotate(approved_count=Count("actions"))
        .order_by("-created_at")
    )


def token_ended_with_grant(checksum: str) -> bool:
    """Whether this (unknown) access token was ended by its grant's revocation or expiry. A
    deactivated person's tokens are just invalid: there is no grant to speak of any more."""
    return EndedGrantToken.objects.filter(
        token_checksum=checksum, grant__user__is_active=True
    ).exists()
