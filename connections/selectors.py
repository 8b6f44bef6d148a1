"""Reads of the connections layer."""

from __future__ import annotations

from django.apps import apps

from connections.models import Connection


def connections_for_user(*, user, include_revoked: bool = False):
    qs = Connection.objects.filter(user=user).order_by("provider", "login", "pk")
    if not include_revoked:
        qs = qs.exclude(status=Connection.Status.REVOKED)
    return qs.defer("access_token", "refresh_token")


def grants_using_connection(*, connection: Connection) -> list:
    """Live app grants whose ``connections`` JSON names this connection (read-only)."""
    Grant = apps.get_model("consent", "Grant")
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
