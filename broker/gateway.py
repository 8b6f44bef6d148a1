"""The broker's only doors into the connections layer (see docs/architecture.md).

Kept in one module so the rest of the broker names no connections internals: the provider
registry (service and ``api_base_url`` of a provider) and the vault's
``get_valid_access_token``. The token this returns goes into one outbound Authorization header
and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from broker import exceptions
from connections import exceptions as cx
from connections.providers import get_provider
from connections.services import (
    connection_call_failed,
    connection_call_succeeded,
    connection_token_rejected,
    get_valid_access_token,
)
from consent.catalog import get_scope


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    id: str
    service: str
    api_base_url: str


def provider_info(provider_id: str) -> ProviderInfo | None:
    try:
        provider = get_provider(provider_id)
    except (KeyError, LookupError, ValueError):
        return None
    if provider is None:
        return None
    return ProviderInfo(provider.id, provider.service, provider.api_base_url)


def access_token(
    connection, *, rejected_token: str | None = None, deadline: float | None = None
) -> str:
    """A usable provider token; raises broker errors instead of the connections layer's.

    ``rejected_token``: the provider answered 401 to it, so refresh once (unless someone already
    did, or that token already came from a refresh the provider rejected: then 502)."""
    try:
        # ``connection`` was read in this request (broker.selectors): the vault's read is it.
        return get_valid_access_token(
            connection,
            current=rejected_token is None,
            rejected_token=rejected_token,
            deadline=deadline,
        )
    except cx.ConnectionNeedsReauthorization:
        raise exceptions.ConnectionNeedsReauthorization(url=reconnect_url(connection)) from None
    except cx.TokenRejected as exc:
        raise exceptions.UpstreamTokenRejected(exc.message) from None
    except cx.ProviderUnavailable as exc:
        raise exceptions.UpstreamUnavailable(exc.message) from None


def token_rejected(connection, *, token: str) -> None:
    """The provider answered 401 to a token the vault just refreshed: remember it."""
    connection_token_rejected(connection=connection, token=token)


def call_outcome(connection, *, failed: str | None) -> None:
    """Count a brokered call's outcome on the connection ("needs attention" after repeats).
    ``failed`` is the reason for a provider-side failure, None for a call that worked."""
    if connection is None:
        return
    if failed:
        connection_call_failed(connection_id=connection.pk, reason=failed)
    else:
        connection_call_succeeded(connection=connection)


def reconnect_url(connection=None, *, provider: str | None = None, scope: str = "") -> str:
    """Where the person can fix the connection (a path on the platform): reconnect a revoked
    connection, re-authorize (upgrade) one that needs it, or the connections page."""
    provider = provider or (connection.provider if connection is not None else None)
    catalog_scope = get_scope(scope) if scope else None
    provider_scopes = catalog_scope.provider_scopes.get(provider or "", ()) if catalog_scope else ()
    query = f"?{urlencode({'scopes': ','.join(provider_scopes)})}" if provider_scopes else ""
    if connection is not None and connection.status != "revoked":
        return reverse("connections:upgrade", args=[connection.pk]) + query
    if provider:
        return reverse("connections:connect", args=[provider]) + query
    return reverse("connections:list")
