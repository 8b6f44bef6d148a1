"""Writes of the connections layer: connect, refresh, upgrade, disconnect, and the token getter.

Every state change records its audit event here. Tokens never leave this module except as the
return value of :func:`get_valid_access_token` (for the broker's outbound call) and the outbound
requests in :mod:`connections.tokens`.
"""

from __future__ import annotations

import logging

from allauth.socialaccount.adapter import get_adapter as get_socialaccount_adapter
from django.db import transaction
from django.shortcuts import render
from django.utils import timezone

from audit.actions import Action, ActorType, Outcome
from audit.services import record_event
from connections import tokens as token_client
from connections.exceptions import TokenEndpointError
from connections.models import Connection
from connections.providers import ProviderSpec, get_provider

# The token getter (connections.token_use) and refresh (connections.refresh) are this layer's
# public interface (docs/architecture.md), so they are named here too.
from connections.refresh import (  # noqa: F401
    EXPIRY_SKEW,
    connection_refresh,
    connection_refresh_if_due,
    due_for_refresh_ids,
    record_connection_event,
    set_tokens,
)
from connections.signals import connection_revoked
from connections.token_use import (  # noqa: F401
    connection_call_failed,
    connection_call_succeeded,
    connection_load_for_use,
    connection_token_rejected,
    get_valid_access_token,
)

logger = logging.getLogger(__name__)

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
    if connection is not None and spec.login_hint:
        # The provider's page offers the account being upgraded, not whoever is signed in there.
        auth_params["login_hint"] = connection.login or connection.provider_account_id
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
        set_tokens(connection, tokens, keep_refresh=False)
        connection.last_refreshed_at = now
        connection.save()
        if existing is None:
            record_connection_event(
                Action.CONNECTION_CREATED,
                connection,
                actor=user,
                request=request,
                metadata={"scopes": granted},
            )
        elif intent.get("intent") == "upgrade" or set(granted) - set(before):
            record_connection_event(
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
            record_connection_event(
                Action.CONNECTION_CREATED,
                connection,
                actor=user,
                request=request,
                metadata={"scopes": granted, "reconnected": True},
            )
    return connection


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
        record_connection_event(
            Action.CONNECTION_REVOKED,
            row,
            actor=actor,
            request=request,
            reason=provider_error,
            metadata={"provider_revocation": "failed" if provider_error else "ok"},
        )
        connection_revoked.send(sender=Connection, connection=row)
    return row
