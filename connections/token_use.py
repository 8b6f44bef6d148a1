"""A provider access token for use, and what the broker's calls tell the connection.

:func:`get_valid_access_token` is the only way to a usable token: it reads just the fields it
needs (the broker's hot path passes the row it already read, ``current=True``), returns the token
while it is valid and otherwise refreshes through :mod:`connections.refresh` (one refresh per
expiry among concurrent callers). The call outcomes (a failure, a success, a token the provider
rejected right after a refresh) are one short UPDATE each.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from connections.exceptions import TokenRejected
from connections.models import Connection
from connections.refresh import EXPIRY_SKEW, connection_refresh, raise_unless_usable, valid_for

LAST_USED_GRANULARITY = timedelta(seconds=60)

TOKEN_READ_FIELDS = (
    "id", "user_id", "provider", "status", "access_token", "token_expires_at", "last_used_at",
    "token_rejected_at", "call_failures",
)  # fmt: skip


def _mark_used(connection_id: int, *, last_used_at=None) -> None:
    """Mark the connection used, at most once per ``LAST_USED_GRANULARITY`` (people see it to the
    minute). ``last_used_at`` is the value just read from the row: when it is recent enough the
    statement is skipped altogether, so most calls pay no write, round trip or commit; otherwise
    the UPDATE carries the same condition, so concurrent callers write it once."""
    now = timezone.now()
    if last_used_at is not None and now - last_used_at < LAST_USED_GRANULARITY:
        return
    Connection.objects.filter(pk=connection_id).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_GRANULARITY)
    ).update(last_used_at=now)


def connection_load_for_use(*, connection_id: int) -> Connection | None:
    """The connection as it is now, with just what :func:`get_valid_access_token` needs (and what
    a caller checks first: owner, provider, status). Pass it back with ``current=True`` so that
    one read serves the caller's checks and the token (the broker's hot path); the refresh
    token is not loaded (a refresh re-reads the whole row under its lock)."""
    found = list(Connection.objects.only(*TOKEN_READ_FIELDS).filter(pk=connection_id)[:1])
    return found[0] if found else None


def _remember(connection: Connection, row: Connection) -> None:
    """Keep the caller's in-memory connection in step with the row, so that its next request in
    the same call uses the new token instead of meeting a second 401 (one refresh per expiry)."""
    if connection is not row:
        connection.access_token = row.access_token
        connection.token_expires_at = row.token_expires_at
        connection.token_rejected_at = row.token_rejected_at


def get_valid_access_token(
    connection: Connection,
    *,
    force_refresh: bool = False,
    current: bool = False,
    rejected_token: str | None = None,
    deadline: float | None = None,
) -> str:
    """A usable provider access token for ``connection``, refreshed on demand.

    ``rejected_token`` (the broker, after a provider 401 on that token) refreshes once, unless
    another caller already replaced it; if that token is itself the product of a refresh the
    provider rejected before, :class:`TokenRejected` is raised instead of refreshing again (each
    refresh rotates the refresh token). ``force_refresh`` without it means "the current token".
    ``current`` says ``connection`` was just read by :func:`connection_load_for_use` in this same
    request, so it is not read again. ``deadline`` (``time.monotonic()``) bounds the wait for
    another caller's refresh. Raises ConnectionNeedsReauthorization, ProviderUnavailable or
    TokenRejected.
    """
    forced = force_refresh or rejected_token is not None
    if current and not forced and connection.get_deferred_fields().isdisjoint(TOKEN_READ_FIELDS):
        row = connection
    else:
        # Only what this decision reads (the refresh re-reads the whole row under its lock).
        row = Connection.objects.only(*TOKEN_READ_FIELDS).get(pk=connection.pk)
    raise_unless_usable(row)
    if forced:
        seen = rejected_token if rejected_token is not None else row.access_token
        if row.access_token and row.access_token != seen:
            _remember(connection, row)  # someone refreshed since that token was handed out
            return row.access_token
        if row.token_rejected_at is not None:
            raise TokenRejected(connection=row)
    elif valid_for(row, EXPIRY_SKEW):
        _mark_used(row.pk, last_used_at=row.last_used_at)
        return row.access_token
    token = connection_refresh(
        connection=row,
        unless_valid_for=None if forced else EXPIRY_SKEW,
        seen_access_token=seen if forced else None,
        deadline=deadline,
    )
    _remember(connection, Connection.objects.only(*TOKEN_READ_FIELDS).get(pk=row.pk))
    _mark_used(row.pk)
    return token


def connection_token_rejected(*, connection: Connection, token: str) -> None:
    """The provider answered 401 to ``token`` although it was just refreshed: remember it on the
    row (so the next 401 on it is reported without another refresh) and count the failure."""
    reason = "The service rejects the connection's new token (HTTP 401 after a refresh)."
    with transaction.atomic():
        row = Connection.objects.select_for_update().filter(pk=connection.pk).first()
        if row is None or row.access_token != token:
            return
        if row.token_rejected_at is None:
            row.token_rejected_at = timezone.now()
            row.save(update_fields=["token_rejected_at"])
    connection_call_failed(connection_id=connection.pk, reason=reason)
    connection.token_rejected_at = row.token_rejected_at


def connection_call_failed(*, connection_id: int, reason: str) -> None:
    """A brokered call failed at the provider (timeout, 5xx, rejected token): one UPDATE."""
    Connection.objects.filter(pk=connection_id).update(
        call_failures=F("call_failures") + 1,
        last_failure_reason=reason[:500],
        last_failure_at=timezone.now(),
    )


def connection_call_succeeded(*, connection: Connection) -> None:
    """A brokered call worked: clear the failure count (no write when there was none)."""
    if getattr(connection, "call_failures", 0):
        Connection.objects.filter(pk=connection.pk, call_failures__gt=0).update(call_failures=0)
        connection.call_failures = 0
