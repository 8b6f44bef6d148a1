"""Reads of the connections layer."""

from __future__ import annotations

from connections.models import Connection


def connections_for_user(*, user, include_revoked: bool = False):
    qs = Connection.objects.filter(user=user).order_by("provider", "login", "pk")
    if not include_revoked:
        qs = qs.exclude(status=Connection.Status.REVOKED)
    return qs.defer("access_token", "refresh_token")


def connection_for_user(*, user, pk: int) -> Connection | None:
    """One of the person's connections (revoked ones too), or None."""
    return Connection.objects.filter(user=user, pk=pk).first()
