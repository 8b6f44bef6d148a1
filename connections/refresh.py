"""Refreshing provider access tokens: once per expiry, with no transaction open while the
provider is called (tokens for use are :mod:`connections.token_use`'s, which calls this).

A refresh is a lease on the connection's row:

1. **claim**: a short transaction locks the row (``select_for_update`` on PostgreSQL; on SQLite
   the transaction begins ``IMMEDIATE``, which takes the database's write lock, across processes),
   reads it, decides whether a refresh is still needed and, if so, writes a lease
   (``refresh_lease_id``, ``refresh_lease_until``), then commits: the lock is released.
2. **call** the provider's token endpoint, outside any transaction.
3. **store** in a second short transaction that re-reads the row under the lock and checks that
   the lease is still ours and the connection still live (it may have been disconnected
   meanwhile), then saves the tokens and drops the lease.

Whoever finds a live lease of someone else waits (threads of one process on a lock, other
processes by re-reading the row) until the lease is gone, and then usually finds the new token.
A refresher that died leaves a lease that expires after ``CONNECTION_REFRESH_LEASE_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.actions import Action, ActorType, Outcome
from audit.services import record_event
from connections import outbound, vault
from connections import tokens as token_client
from connections.exceptions import (
    ConnectionNeedsReauthorization,
    ProviderUnavailable,
    RefreshInProgress,
    TokenEndpointError,
)
from connections.leased_updates import update_if_leased
from connections.models import Connection
from connections.providers import UnknownProvider, get_provider

logger = logging.getLogger(__name__)

# A token this close to its expiry is refreshed before use (clock skew and request time).
EXPIRY_SKEW = timedelta(seconds=30)
# How often a caller waiting on another process's refresh re-reads the row.
POLL_SECONDS = 0.05

# Threads of one process wait for each other here instead of polling the database.
_local_locks: dict[int, threading.Lock] = defaultdict(threading.Lock)
_local_locks_guard = threading.Lock()


def _local_lock(connection_id: int) -> threading.Lock:
    with _local_locks_guard:
        return _local_locks[connection_id]


def record_connection_event(
    action,
    connection: Connection,
    *,
    outcome=Outcome.SUCCESS,
    reason="",
    actor=None,
    request=None,
    metadata=None,
    background=None,
):
    """The audit event of a change to ``connection`` (by a person, or the system)."""
    record_event(
        action,
        actor_type=ActorType.PERSON if actor is not None else ActorType.SYSTEM,
        actor_user=actor,
        subject_user=connection.user,
        service=connection.provider.removeprefix("sandbox_"),
        resource=f"connection:{connection.pk}",
        outcome=outcome,
        reason=reason,
        background=background,
        request=request,
        metadata={
            "connection_id": connection.pk,
            "provider": connection.provider,
            **(metadata or {}),
        },
    )


def set_tokens(connection: Connection, tokens, *, keep_refresh: bool) -> None:
    """Put a TokenSet on the (unsaved) row and clear what the old tokens' troubles left."""
    connection.access_token = tokens.access_token
    if tokens.refresh_token:
        connection.refresh_token = tokens.refresh_token
    elif not keep_refresh:
        connection.refresh_token = None
    connection.token_expires_at = tokens.expires_at()
    connection.token_key_id = vault.current_key_id()
    connection.refresh_failures = 0
    connection.next_refresh_attempt_at = None
    connection.token_rejected_at = None
    connection.refresh_lease_id = ""
    connection.refresh_lease_until = None


def raise_unless_usable(row: Connection) -> None:
    if row.status != Connection.Status.ACTIVE:
        raise ConnectionNeedsReauthorization(
            "The connection was disconnected." if row.status == Connection.Status.REVOKED else None,
            connection=row,
        )


def valid_for(row: Connection, margin: timedelta) -> bool:
    if not row.access_token:
        return False
    return row.token_expires_at is None or row.token_expires_at > timezone.now() + margin


def _backoff(failures: int) -> timedelta:
    return timedelta(
        seconds=min(settings.CONNECTION_REFRESH_MAX_BACKOFF_SECONDS, 30 * 2 ** max(0, failures - 1))
    )


class _Done(Exception):
    """Raised inside the claim to end it with a token (nothing to refresh)."""

    def __init__(self, token: str):
        self.token = token


def _claim(
    connection_id: int,
    *,
    lease_id: str,
    unless_valid_for: timedelta | None,
    seen_access_token: str | None,
) -> Connection | None:
    """Step 1: lock, read, decide, write the lease, commit. Returns the row (lease ours), or None
    when someone else holds a live lease; raises _Done with a token when no refresh is needed."""
    now = timezone.now()
    with transaction.atomic():
        row = Connection.objects.select_for_update().select_related("user").get(pk=connection_id)
        raise_unless_usable(row)
        if (
            seen_access_token is not None
            and row.access_token
            and row.access_token != seen_access_token
        ):
            raise _Done(row.access_token)
        if (
            seen_access_token is None
            and unless_valid_for is not None
            and valid_for(row, unless_valid_for)
        ):
            raise _Done(row.access_token)
        if (
            row.refresh_lease_until is not None
            and row.refresh_lease_until > now
            and row.refresh_lease_id != lease_id
        ):
            return None
        if not row.refresh_token:
            if seen_access_token is None and valid_for(row, timedelta(0)):
                raise _Done(row.access_token)
            return row  # no lease needed: there is nothing to call
        row.refresh_lease_id = lease_id
        row.refresh_lease_until = now + timedelta(seconds=settings.CONNECTION_REFRESH_LEASE_SECONDS)
        row.save(update_fields=["refresh_lease_id", "refresh_lease_until"])
    return row


def _release(connection_id: int, lease_id: str) -> None:
    Connection.objects.filter(pk=connection_id, refresh_lease_id=lease_id).update(
        refresh_lease_id="", refresh_lease_until=None
    )


def connection_refresh(
    *,
    connection: Connection,
    unless_valid_for: timedelta | None = EXPIRY_SKEW,
    seen_access_token: str | None = None,
    background: bool = False,
    deadline: float | None = None,
    wait: bool = True,
    lease_id: str | None = None,
) -> str:
    """Refresh the connection's tokens at the provider, at most once among concurrent callers
    (threads and processes), with no transaction open during the provider call.

    Skips the provider call when, once the lease is held, the token is valid for
    ``unless_valid_for`` or differs from ``seen_access_token`` (someone else refreshed). While
    someone else refreshes, waits for them (until ``deadline``, a ``time.monotonic()`` value,
    or the lease's length) unless ``wait`` is false (the sweep), then raises ProviderUnavailable.
    ``invalid_grant`` marks the connection needs_reauth and raises ConnectionNeedsReauthorization;
    a timeout or 5xx records a failure with backoff, keeps the old token and raises
    ProviderUnavailable. When the new tokens cannot be stored, the old refresh token is kept.
    ``lease_id``: a lease the caller already holds on the row (the sweep claims its batches with
    one, ``connections.sweep``); it counts as ours, any other live lease does not.
    """
    lease_seconds = settings.CONNECTION_REFRESH_LEASE_SECONDS
    if deadline is None:
        deadline = outbound.deadline()  # the web request's call budget, when there is one
    give_up = deadline if deadline is not None else time.monotonic() + lease_seconds + 1
    lock = _local_lock(connection.pk)
    if not lock.acquire(timeout=max(0.0, give_up - time.monotonic()) if wait else 0):
        raise RefreshInProgress()
    try:
        lease_id = lease_id or uuid.uuid4().hex
        while True:
            try:
                row = _claim(
                    connection.pk,
                    lease_id=lease_id,
                    unless_valid_for=unless_valid_for,
                    seen_access_token=seen_access_token,
                )
            except _Done as done:
                return done.token
            if row is not None:
                break
            if not wait or time.monotonic() >= give_up:
                raise RefreshInProgress()
            time.sleep(POLL_SECONDS)  # another process holds the lease: wait for its result
        if not row.refresh_token:
            raise _needs_reauth(
                row,
                "The provider issued no refresh token and the access token no longer works.",
                background,
                lease_id=lease_id,
            )
        return _call_and_store(row, lease_id=lease_id, background=background)
    finally:
        lock.release()


def connection_refresh_claimed(*, connection: Connection, lease_id: str) -> str:
    """Refresh a connection the sweep claimed (``connections.sweep.claim_due_batch``): the row
    was locked, found due and leased with ``lease_id`` in the claim's transaction, and loaded
    there with its person, so it is not read again. One conditional UPDATE renews the lease
    right before the provider call: it matches only while the lease is still ours and the
    connection still active (nobody else can have refreshed or changed the tokens: whoever does
    takes or drops the lease, a disconnect changes the status). When it does not match, the
    connection goes through :func:`connection_refresh_if_due`, which reads the row and decides
    as for anyone else. Returns how it ended, as ``connection_refresh_if_due`` does."""
    lock = _local_lock(connection.pk)
    if not lock.acquire(timeout=0):
        return "busy"  # a thread of this process is refreshing it: that one does the work
    try:
        if _renew_lease(connection.pk, lease_id):
            try:
                _call_and_store(connection, lease_id=lease_id, background=True)
            except ConnectionNeedsReauthorization:
                return "needs_reauth"
            except RefreshInProgress:
                return "busy"
            except ProviderUnavailable:
                return "failed"
            return "refreshed"
    finally:
        lock.release()
    return connection_refresh_if_due(connection_id=connection.pk, lease_id=lease_id)


def _renew_lease(connection_id: int, lease_id: str) -> bool:
    """Extend our lease to a full length if it is still ours and the connection still active
    (one statement, no transaction): the provider is called only after this said yes."""
    until = timezone.now() + timedelta(seconds=settings.CONNECTION_REFRESH_LEASE_SECONDS)
    return update_if_leased(connection_id, lease_id, {"refresh_lease_until": until})


def _call_and_store(row: Connection, *, lease_id: str, background: bool) -> str:
    """Steps 2 and 3. A stored refresh drops the lease with the tokens; on every other way out
    the lease is given back (a no-op when a failure already dropped it)."""
    try:
        return _call_and_store_leased(row, lease_id=lease_id, background=background)
    except BaseException:
        _release(row.pk, lease_id)
        raise


def _call_and_store_leased(row: Connection, *, lease_id: str, background: bool) -> str:
    try:
        spec = get_provider(row.provider)
    except UnknownProvider:
        # The provider was removed from the registry (or the sandbox turned off): the connection
        # cannot be used, but nothing about it changed, so its state is left alone.
        raise ConnectionNeedsReauthorization(
            "This service can no longer be used here.", connection=row
        ) from None
    used_refresh = row.refresh_token
    try:
        tokens = token_client.refresh(spec, refresh_token=used_refresh)  # no transaction open
    except TokenEndpointError as exc:
        if exc.kind == "busy":
            raise RefreshInProgress(exc.message) from None
        if exc.kind == "invalid_grant":
            raise _needs_reauth(
                row, f"Refresh refused: {exc.message}", background, lease_id=lease_id
            ) from None
        raise _refresh_failed(row, exc.message, background, lease_id=lease_id) from None
    return _store_refreshed(row, tokens, background, lease_id=lease_id, used_refresh=used_refresh)


def _needs_reauth(row: Connection, reason: str, background: bool, *, lease_id: str) -> Exception:
    Connection.objects.filter(pk=row.pk, status=Connection.Status.ACTIVE).update(
        status=Connection.Status.NEEDS_REAUTH,
        status_reason=reason[:500],
        next_refresh_attempt_at=None,
        refresh_lease_id="",
        refresh_lease_until=None,
    )
    row.status = Connection.Status.NEEDS_REAUTH
    record_connection_event(
        Action.CONNECTION_REFRESH_FAILED,
        row,
        outcome=Outcome.FAILURE,
        reason=reason,
        background=background,
    )
    record_connection_event(
        Action.CONNECTION_NEEDS_REAUTH,
        row,
        outcome=Outcome.FAILURE,
        reason=reason,
        background=background,
    )
    logger.warning("connection %s needs re-authorization", row.pk)
    return ConnectionNeedsReauthorization(connection=row)


def _refresh_failed(row: Connection, reason: str, background: bool, *, lease_id: str) -> Exception:
    failures = row.refresh_failures + 1
    retry_at = timezone.now() + _backoff(failures)
    Connection.objects.filter(pk=row.pk).update(
        refresh_failures=failures,
        next_refresh_attempt_at=retry_at,
        last_failure_reason=f"Refreshing the token failed: {reason}"[:500],
        last_failure_at=timezone.now(),
    )
    _release(row.pk, lease_id)
    record_connection_event(
        Action.CONNECTION_REFRESH_FAILED,
        row,
        outcome=Outcome.FAILURE,
        reason=reason,
        background=background,
        metadata={"failures": failures, "retry_at": retry_at.isoformat()},
    )
    logger.info(
        "connection %s refresh failed (%s failures), retry at %s", row.pk, failures, retry_at
    )
    return ProviderUnavailable(connection=row)


def _store_refreshed(
    row: Connection, tokens, background: bool, *, lease_id: str, used_refresh: str
) -> str:
    """Step 3: store the tokens and drop the lease, if the lease is still ours and the connection
    still live; otherwise decide under the row lock (:func:`_store_contended`)."""
    rotated = bool(tokens.refresh_token) and tokens.refresh_token != used_refresh
    now = timezone.now()
    try:
        # One conditional UPDATE (its own transaction): PostgreSQL re-checks the condition on the
        # row as it is once any concurrent writer has committed, so it is the same decision as
        # the locked re-read below when the lease is ours. Each token is encrypted once, here.
        changes = {
            "access_token": tokens.access_token,
            "token_expires_at": tokens.expires_at(now),
            "token_key_id": vault.current_key_id(),
            "refresh_failures": 0,
            "next_refresh_attempt_at": None,
            "token_rejected_at": None,
            "refresh_lease_id": "",
            "refresh_lease_until": None,
            "last_refreshed_at": now,
        }
        if tokens.refresh_token:
            changes["refresh_token"] = tokens.refresh_token
        if tokens.scopes is not None:
            changes["scopes"] = list(tokens.scopes)
        stored = update_if_leased(row.pk, lease_id, changes)
        if stored:
            for name, value in changes.items():
                setattr(row, name, value)
            current = row
        else:
            current, stored = _store_contended(
                row, tokens, lease_id=lease_id, used_refresh=used_refresh
            )
            if not stored:  # our lease ran out and someone else stored newer tokens
                return current.access_token
    except ConnectionNeedsReauthorization:
        raise
    except Exception as exc:  # nothing was stored: the stored (old) tokens are unchanged
        logger.error(
            "connection %s: refreshed tokens could not be stored (%s)", row.pk, type(exc).__name__
        )
        reason = "The refreshed tokens could not be stored."
        if rotated:
            # The provider rotated the refresh token: the stored one is dead, the new one lost.
            raise _needs_reauth(
                row,
                reason + " The provider rotated the refresh token.",
                background,
                lease_id=lease_id,
            ) from None
        raise _refresh_failed(
            row, reason + " The previous refresh token is kept.", background, lease_id=lease_id
        ) from None
    record_connection_event(
        Action.CONNECTION_REFRESHED,
        current,
        background=background,
        metadata={
            "rotated": rotated,
            "expires_at": current.token_expires_at.isoformat()
            if current.token_expires_at
            else None,
        },
    )
    return current.access_token


def _store_contended(
    row: Connection, tokens, *, lease_id: str, used_refresh: str
) -> tuple[Connection, bool]:
    """The store when the lease is no longer ours (or the connection changed): re-read the row
    under the lock. A disconnect meanwhile wins; someone else's newer tokens stand (None); if
    nobody stored anything since our call began, ours are stored (the provider may have rotated
    the refresh token: the stored one is then dead). Returns the row and whether ours went in."""
    with transaction.atomic():
        current = Connection.objects.select_for_update().select_related("user").get(pk=row.pk)
        if current.status != Connection.Status.ACTIVE:
            # Disconnected (or marked) while the provider answered: do not bring it back.
            raise ConnectionNeedsReauthorization(connection=current)
        if current.refresh_lease_id != lease_id and current.refresh_token != used_refresh:
            return current, False
        set_tokens(current, tokens, keep_refresh=True)
        if tokens.scopes is not None:
            current.scopes = list(tokens.scopes)
        current.last_refreshed_at = timezone.now()
        current.save()
    return current, True


# --- the sweep ----------------------------------------------------------------------------------


def connection_refresh_if_due(*, connection_id: int, lease_id: str | None = None) -> str:
    """The sweep's unit of work: refresh one connection if it still expires within the margin.
    It never waits for another refresher: that one is doing the work."""
    margin = timedelta(seconds=settings.CONNECTION_REFRESH_MARGIN_SECONDS)
    connection = Connection.objects.filter(pk=connection_id).first()
    if connection is None:
        return "gone"
    if connection.status != Connection.Status.ACTIVE or not connection.refresh_token:
        return "skipped"
    if connection.next_refresh_attempt_at and connection.next_refresh_attempt_at > timezone.now():
        return "backing_off"
    before = connection.access_token
    try:
        token = connection_refresh(
            connection=connection,
            unless_valid_for=margin,
            background=True,
            wait=False,
            lease_id=lease_id,
        )
    except ConnectionNeedsReauthorization:
        return "needs_reauth"
    except RefreshInProgress:
        return "busy"
    except ProviderUnavailable:
        return "failed"
    return "refreshed" if token != before else "not_due"


def due_for_refresh_ids(*, now=None, limit: int | None = None) -> list[int]:
    now = now or timezone.now()
    margin = timedelta(seconds=settings.CONNECTION_REFRESH_MARGIN_SECONDS)
    qs = (
        Connection.objects.filter(
            status=Connection.Status.ACTIVE,
            refresh_token__isnull=False,
            token_expires_at__lte=now + margin,
        )
        .filter(Q(next_refresh_attempt_at__isnull=True) | Q(next_refresh_attempt_at__lte=now))
        .order_by("token_expires_at")
        .values_list("pk", flat=True)
    )
    return list(qs[:limit] if limit else qs)
