"""Clients that register themselves: RFC 7591 dynamic registration and Client ID Metadata
Documents (draft-ietf-oauth-client-id-metadata-document), as MCP clients do.

Nobody's developer account stands behind such a client: the platform knows only what the client
says about itself. So each one gets an :class:`App` under an owner-less publisher, is never
verified, may request the catalog's scopes except unattended writes (every change it wants waits
for the person), and the consent screen says "unverified, registered by the client itself".
Background access (``offline_access``) stays a separate choice the person makes on that screen.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.db import transaction
from oauth2_provider.scopes import get_scopes_backend

from apps_registry.models import App, AppScope, OAuthClient, Publisher
from audit.actions import Action, ActorType
from audit.services import record_event

UNATTENDED_WRITES_SCOPE = "agents.actions.unattended_writes"
DCR_PUBLISHER = "Unknown (registered by the client itself)"


def self_registered_scopes() -> list[str]:
    """Every catalog scope but unattended writes, all optional: the person narrows on consent."""
    catalog = set(get_scopes_backend().get_all_scopes())
    return sorted(catalog - {UNATTENDED_WRITES_SCOPE})


def _publisher_name(client: OAuthClient) -> str:
    if client.registration_source == OAuthClient.RegistrationSource.CIMD:
        # The document was fetched over https from this host: that much is known.
        return (urlsplit(client.client_id).hostname or DCR_PUBLISHER)[:150]
    return DCR_PUBLISHER


def self_registered_app_ensure(*, client: OAuthClient, request=None) -> App:
    """The App of a self-registered client, created on first sight (idempotent). A CIMD client's
    name follows its document (re-fetched when its cache expires)."""
    if client.registration_source == OAuthClient.RegistrationSource.MANUAL:
        raise ValueError("only self-registered clients get an app this way")
    name = (client.name or _publisher_name(client) or "Unnamed client").strip()[:100]
    with transaction.atomic():
        app = App.objects.select_for_update().filter(client=client).first()
        if app is not None:
            if app.name != name:
                app.name = name
                app.save(update_fields=["name", "updated_at"])
            return app
        publisher_name = _publisher_name(client)
        publisher = Publisher.objects.filter(owner=None, name=publisher_name).first()
        if publisher is None:
            publisher = Publisher.objects.create(name=publisher_name, owner=None)
        app = App.objects.create(
            client=client,
            publisher=publisher,
            name=name,
            verified=False,
            # Asked for with offline_access; the person still decides on the consent screen.
            may_request_background=True,
        )
        AppScope.objects.bulk_create(
            [AppScope(app=app, scope=s, required=False) for s in self_registered_scopes()]
        )
        record_event(
            Action.APP_REGISTERED,
            actor_type=ActorType.APP,
            app=app,
            request=request if hasattr(request, "META") else None,
            metadata={
                "registration": client.registration_source,
                "client_type": client.client_type,
            },
        )
    return app
