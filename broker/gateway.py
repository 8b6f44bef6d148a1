"""The broker's only doors into the connections layer (see docs/architecture.md).

Kept in one module so the rest of the broker names no connections internals: the provider
registry (service and ``api_base_url`` of a provider) and the vault's
``get_valid_access_token``. The token this returns goes into one outbound Authorization header
and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    id: str
    service: str
    api_base_url: str


def provider_info(provider_id: str) -> ProviderInfo | None:
    from connections.providers import get_provider

    try:
        provider = get_provider(provider_id)
    except (KeyError, LookupError, ValueError):
        return None
    if provider is None:
        return None
    return ProviderInfo(provider.id, provider.service, provider.api_base_url)


def load_connection(connection_id: int):
    """The connection as it is now, read once for the broker's checks and the vault (which then
    does not read it again). The broker itself never reads its token fields."""
    from connections.services import connection_load_for_use

    return connection_load_for_use(connection_id=connection_id)


def access_token(connection, *, force_refresh: bool = False) -> str:
    """A usable provider token; raises broker errors instead of the connections layer's."""
    from broker import exceptions
    from connections import exceptions as cx
    from connections.services import get_valid_access_token

    try:
        # ``connection`` comes from load_connection in this request: the vault's read is it.
        return get_valid_access_token(
            connection, force_refresh=force_refresh, current=not force_refresh
        )
    except cx.ConnectionNeedsReauthorization:
        raise exceptions.ConnectionNeedsReauthorization(url=reconnect_url(connection)) from None
    except cx.ProviderUnavailable:
        raise exceptions.UpstreamUnavailable() from None


def reconnect_url(connection=None, *, provider: str | None = None, scope: str = "") -> str:
    """Where the person can fix the connection (a path on the platform): reconnect a revoked
    connection, re-authorize (upgrade) one that needs it, or the connections page."""
    from urllib.parse import urlencode

    from django.urls import NoReverseMatch, reverse

    from consent.catalog import get_scope

    provider = provider or (connection.provider if connection is not None else None)
    catalog_scope = get_scope(scope) if scope else None
    provider_scopes = catalog_scope.provider_scopes.get(provider or "", ()) if catalog_scope else ()
    query = f"?{urlencode({'scopes': ','.join(provider_scopes)})}" if provider_scopes else ""
    try:
        if connection is not None and connection.status != "revoked":
            return reverse("connections:upgrade", args=[connection.pk]) + query
        if provider:
            return reverse("connections:connect", args=[provider]) + query
    except NoReverseMatch:
        pass
    return "/connections/"
