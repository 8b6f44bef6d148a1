"""Writes of the connections layer: connect, refresh, upgrade, disconnect, and the token getter.

Every state change records its audit event here. Tokens never leave this module except as the
return value of :func:`get_valid_access_token` (for the broker's outbound call) and the outbound
requests in :mod:`connections.tokens`.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from contextlib import contextmanager
from datetime import timedelta

from allauth.socialaccount.adapter import get_adapter as get_socialaccount_adapter
from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Q
from django.shortcuts import render
from django.utils import timezone

from audit.actions import Action, ActorType, Outcome
from audit.services import record_event
from connections import tokens as token_client
from connections import vault
from connections.exceptions import (
    ConnectionNeedsReauthorization,
    ProviderUnavailable,
    TokenEndpointError,
)
from connections.models import Connection
from connections.providers import ProviderSpec, UnknownProvider, get_provider
from connections.signals import connection_revoked

logger = logging.getLogger(__name__)

# A token this close to its expiry is refreshed before use (clock skew and request time).
EXPIRY_SKEW = timedelta(seconds=30)
LAST_USED_GRANULARITY = timedelta(seconds=60)

# SQLite has no row locks; within one process a lock per connection gives the same guarantee.
_local_locks: dict[int, threading.Lock] = defaultdict(threading.Lock)
_local_locks_guard = threading.Lock()


@contextmanager
def _process_lock(connection_id: int):
    if db_connection.vendor == "postgresql":
        yield  # the row lock (select_for_update) does it across processes
        return
    with _local_locks_guard:
        lock = _local_locks[connection_id]
    with lock:
        yield


def _audit(
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
    spec_service = connection.provider.removeprefix("sandbox_")
    record_event(
        action,
        actor_type=ActorType.PERSON if actor is not None else ActorType.SYSTEM,
        actor_user=actor,
        subject_user=connection.user,
        service=spec_service,
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


# --- connect ------------------------------------------------------------------------------------


def connect_failed_page(request, spec: ProviderSpec, message: str, *, intent: dict | None = None):
    """The clear page a failed connect or upgrade ends on; existing connections are untouched."""
    if getattr(request, "user", None) is not None and request.user.is_authenticated:
        record_event(
            Action.CONNECTION_FAILED,
            actor_type=ActorType.PERSON,
            actor_user=request.user,
            subject_user=request.user,
            service=spec.service,
            outcome=Outcome.FAILURE,
            reason=message[:500],
            request=request,
            metadata={"provider": spec.id, "intent": (intent or {}).get("intent", "connect")},
        )
    return render(
        request,
        "connections/connect_failed.html",
        {"provider": spec, "message": message, "next": (intent or {}).get("next") or ""},
        status=400,
    )


def _unique(items) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def connection_start(
    request,
    *,
    provider_id: str,
    scopes: list[str],
    next_url: str,
    connection: Connection | None = None,
):
    """Send the person to the provider (allauth's connect process with PKCE and state).

    For an upgrade the full set (held + added) is asked for, since GitHub and Slack issue a token
    for exactly what was asked; the provider's page shows only what is added.
    """
    spec = get_provider(provider_id)
    provider = get_socialaccount_adapter(request).get_provider(request, provider_id)
    held = connection.scopes if connection else []
    requested = _unique([*spec.default_scopes, *held, *scopes])
    auth_params = provider.get_auth_params()
    if connection is not None and spec.dialect != "slack":
        auth_params["login_hint"] = connection.login or connection.provider_account_id
    if connection is not None and spec.dialect == "oauth2":
        auth_params["include_granted_scopes"] = "true"
    intent = {
        "intent": "upgrade" if connection else "connect",
        "connection_id": connection.pk if connection else None,
        "scopes": requested,
        "added": [s for s in requested if s not in held],
        "next": next_url,
    }
    return provider.redirect(
        request, "connect", next_url=next_url, data=intent, scope=requested, auth_params=auth_params
    )


def connection_store_from_login(*, user, sociallogin, request=None) -> Connection:
    """Store what a successful connect or upgrade returned (called from allauth's signals)."""
    tokens = sociallogin.platform_tokens
    intent = sociallogin.platform_intent or {}
    account = sociallogin.account
    provider_id = account.provider
    granted = list(tokens.scopes) if tokens.scopes is not None else list(intent.get("scopes") or [])
    profile = account.extra_data or {}
    now = timezone.now()
    with transaction.atomic():
        existing = (
            Connection.objects.select_for_update()
            .filter(user=user, provider=provider_id, provider_account_id=account.uid)
            .exclude(status=Connection.Status.REVOKED)
            .first()
        )
        connection = existing or Connection(
            user=user, provider=provider_id, provider_account_id=account.uid, created_at=now
        )
        before = list(connection.scopes or []) if existing else []
        connection.login = str(profile.get("login") or account.uid)[:255]
        connection.display_name = str(profile.get("name") or "")[:255]
        connection.scopes = granted
        connection.status = Connection.Status.ACTIVE
        connection.status_reason = ""
        connection.social_account = account if account.pk else None
        _set_tokens(connection, tokens, keep_refresh=False)
        connection.last_refreshed_at = now
        connection.save()
        if existing is None:
            _audit(
                Action.CONNECTION_CREATED,
                connection,
                actor=user,
                request=request,
                metadata={"scopes": granted},
            )
        elif intent.get("intent") == "upgrade" or set(granted) - set(before):
            _audit(
                Action.CONNECTION_UPGRADED,
                connection,
                actor=user,
                request=request,
                metadata={
                    "added_scopes": [s for s in granted if s not in before],
                    "scopes": granted,
                },
            )
        else:
            _audit(
                Action.CONNECTION_CREATED,
                connection,
                actor=user,
                request=request,
                metadata={"scopes": granted, "reconnected": True},
            )
    return connection


def _set_tokens(connection: Connection, tokens, *, keep_refresh: bool) -> None:
    connection.access_token = tokens.access_token
    if tokens.refresh_token:
        connection.refresh_token = tokens.refresh_token
    elif not keep_refresh:
        connection.refresh_token = None
    connection.token_expires_at = tokens.expires_at()
    connection.token_key_id = vault.current_key_id()
    connection.refresh_failures = 0
    connection.next_refresh_attempt_at = None


# --- tokens for the broker ----------------------------------------------------------------------


def _raise_unless_usable(row: Connection) -> None:
    if row.status != Connection.Status.ACTIVE:
        raise ConnectionNeedsReauthorization(
            "The connection was disconnected." if row.status == Connection.Status.REVOKED else None,
            connection=row,
        )


def _valid_for(row: Connection, margin: timedelta) -> bool:
    if not row.access_token:
        return False
    return row.token_expires_at is None or row.token_expires_at > timezone.now() + margin


_TOKEN_READ_FIELDS = (
    "id", "user_id", "provider", "status", "access_token", "token_expires_at", "last_used_at",
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
    found = list(Connection.objects.only(*_TOKEN_READ_FIELDS).filter(pk=connection_id)[:1])
    return found[0] if found else None


def get_valid_access_token(
    connection: Connection, *, force_refresh: bool = False, current: bool = False
) -> str:
    """A usable provider access token for ``connection``, refreshed on demand.

    ``force_refresh`` (the broker, after a provider 401) refreshes once even if the token looks
    valid, unless another caller already replaced it. Refreshes are serialised per connection
    (a row lock on PostgreSQL), so many concurrent callers cause exactly one provider refresh.
    ``current`` says ``connection`` was just read by :func:`connection_load_for_use` in this same
    request, so it is not read again (ignored with ``force_refresh``, which always re-reads).
    Raises ConnectionNeedsReauthorization or ProviderUnavailable.
    """
    if (
        current
        and not force_refresh
        and connection.get_deferred_fields().isdisjoint(_TOKEN_READ_FIELDS)
    ):
        row = connection
    else:
        # Only what this decision reads (the refresh path re-reads the whole row under its
        # lock), so the per-call read neither builds nor decrypts what it does not use.
        row = Connection.objects.only(*_TOKEN_READ_FIELDS).get(pk=connection.pk)
    _raise_unless_usable(row)
    if not force_refresh and _valid_for(row, EXPIRY_SKEW):
        _mark_used(row.pk, last_used_at=row.last_used_at)
        return row.access_token
    token = connection_refresh(
        connection=row,
        unless_valid_for=None if force_refresh else EXPIRY_SKEW,
        seen_access_token=row.access_token if force_refresh else None,
    )
    _mark_used(row.pk)
    return token


def _backoff(failures: int) -> timedelta:
    return timedelta(
        seconds=min(settings.CONNECTION_REFRESH_MAX_BACKOFF_SECONDS, 30 * 2 ** max(0, failures - 1))
    )


def connection_refresh(
    *,
    connection: Connection,
    unless_valid_for: timedelta | None = EXPIRY_SKEW,
    seen_access_token: str | None = None,
    background: bool = False,
) -> str:
    """Refresh the connection's tokens at the provider, at most once among concurrent callers.

    Skips the provider call when, once the lock is held, the token is valid for
    ``unless_valid_for`` or differs from ``seen_access_token`` (someone else refreshed).
    ``invalid_grant`` marks the connection needs_reauth and raises ConnectionNeedsReauthorization;
    a timeout or 5xx records a failure with backoff, keeps the old token and raises
    ProviderUnavailable. When the new tokens cannot be stored, the old refresh token is kept.
    """
    outcome: Exception | None = None
    with _process_lock(connection.pk), transaction.atomic():
        row = Connection.objects.select_for_update().select_related("user").get(pk=connection.pk)
        _raise_unless_usable(row)
        if (
            seen_access_token is not None
            and row.access_token
            and row.access_token != seen_access_token
        ):
            return row.access_token
        if (
            seen_access_token is None
            and unless_valid_for is not None
            and _valid_for(row, unless_valid_for)
        ):
            return row.access_token
        try:
            spec = get_provider(row.provider)
        except UnknownProvider:
            return _unavailable_provider(row)
        if not row.refresh_token:
            if seen_access_token is None and _valid_for(row, timedelta(0)):
                return row.access_token
            outcome = _needs_reauth(
                row,
                "The provider issued no refresh token and the access token no longer works.",
                background,
            )
        else:
            try:
                tokens = token_client.refresh(spec, refresh_token=row.refresh_token)
            except TokenEndpointError as exc:
                if exc.kind == "invalid_grant":
                    outcome = _needs_reauth(row, f"Refresh refused: {exc.message}", background)
                else:
                    outcome = _refresh_failed(row, exc.message, background)
            else:
                outcome = _store_refreshed(row, tokens, background)
                if outcome is None:
                    return tokens.access_token
    raise outcome


def _unavailable_provider(row: Connection):
    # The provider was removed from the registry (or the sandbox turned off): the connection
    # cannot be used, but nothing about it changed, so its state is left alone.
    raise ConnectionNeedsReauthorization("This service can no longer be used here.", connection=row)


def _needs_reauth(row: Connection, reason: str, background: bool) -> Exception:
    Connection.objects.filter(pk=row.pk).update(
        status=Connection.Status.NEEDS_REAUTH,
        status_reason=reason[:500],
        next_refresh_attempt_at=None,
    )
    row.status = Connection.Status.NEEDS_REAUTH
    _audit(
        Action.CONNECTION_REFRESH_FAILED,
        row,
        outcome=Outcome.FAILURE,
        reason=reason,
        background=background,
    )
    _audit(
        Action.CONNECTION_NEEDS_REAUTH,
        row,
        outcome=Outcome.FAILURE,
        reason=reason,
        background=background,
    )
    logger.warning("connection %s needs re-authorization", row.pk)
    return ConnectionNeedsReauthorization(connection=row)


def _refresh_failed(row: Connection, reason: str, background: bool) -> Exception:
    failures = row.refresh_failures + 1
    retry_at = timezone.now() + _backoff(failures)
    Connection.objects.filter(pk=row.pk).update(
        refresh_failures=failures, next_refresh_attempt_at=retry_at
    )
    _audit(
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


def _store_refreshed(row: Connection, tokens, background: bool) -> Exception | None:
    rotated = bool(tokens.refresh_token) and tokens.refresh_token != row.refresh_token
    _set_tokens(row, tokens, keep_refresh=True)
    if tokens.scopes is not None:
        row.scopes = list(tokens.scopes)
    row.last_refreshed_at = timezone.now()
    try:
        with transaction.atomic():
            row.save()
    except Exception as exc:  # the savepoint rolled back: the stored (old) tokens are unchanged
        logger.error(
            "connection %s: refreshed tokens could not be stored (%s)", row.pk, type(exc).__name__
        )
        reason = "The refreshed tokens could not be stored."
        if rotated:
            # The provider rotated the refresh token: the stored one is dead, the new one lost.
            return _needs_reauth(
                row, reason + " The provider rotated the refresh token.", background
            )
        return _refresh_failed(row, reason + " The previous refresh token is kept.", background)
    _audit(
        Action.CONNECTION_REFRESHED,
        row,
        background=background,
        metadata={
            "rotated": rotated,
            "expires_at": row.token_expires_at.isoformat() if row.token_expires_at else None,
        },
    )
    return None


def connection_refresh_if_due(*, connection_id: int) -> str:
    """The sweep's unit of work: refresh one connection if it still expires within the margin."""
    margin = timedelta(seconds=settings.CONNECTION_REFRESH_MARGIN_SECONDS)
    try:
        connection = Connection.objects.get(pk=connection_id)
    except Connection.DoesNotExist:
        return "gone"
    if connection.status != Connection.Status.ACTIVE or not connection.refresh_token:
        return "skipped"
    if connection.next_refresh_attempt_at and connection.next_refresh_attempt_at > timezone.now():
        return "backing_off"
    before = connection.access_token
    try:
        token = connection_refresh(connection=connection, unless_valid_for=margin, background=True)
    except ConnectionNeedsReauthorization:
        return "needs_reauth"
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


# --- disconnect ---------------------------------------------------------------------------------


def connection_disconnect(*, connection: Connection, actor, request=None) -> Connection:
    """Revoke at the provider, destroy the local tokens, mark revoked, send connection_revoked.

    The local tokens are destroyed even when the provider call fails; the failure is recorded.
    """
    row = Connection.objects.get(pk=connection.pk)
    if row.status == Connection.Status.REVOKED:
        return row
    provider_error = ""
    try:
        spec = get_provider(row.provider)
        if row.access_token or row.refresh_token:
            token_client.revoke(
                spec, access_token=row.access_token, refresh_token=row.refresh_token
            )
    except TokenEndpointError as exc:
        provider_error = exc.message
    except Exception as exc:  # an unknown provider, a vault error: still destroy the tokens
        provider_error = f"Provider-side revocation was not possible ({type(exc).__name__})."
    with transaction.atomic():
        row = Connection.objects.select_for_update().get(pk=connection.pk)
        social_account = row.social_account
        row.access_token = None
        row.refresh_token = None
        row.token_expires_at = None
        row.token_key_id = ""
        row.status = Connection.Status.REVOKED
        row.status_reason = (
            "Disconnected. "
            + (f"Provider-side revocation failed: {provider_error}" if provider_error else "")
        )[:500].strip()
        row.revoked_at = timezone.now()
        row.social_account = None
        row.next_refresh_attempt_at = None
        row.save()
        if social_account is not None:
            social_account.delete()
        _audit(
            Action.CONNECTION_REVOKED,
            row,
            actor=actor,
            request=request,
            reason=provider_error,
            metadata={"provider_revocation": "failed" if provider_error else "ok"},
        )
        connection_revoked.send(sender=Connection, connection=row)
    return row
