"""Discovery documents: RFC 8414 authorization server metadata and RFC 9728 protected resource
metadata for the platform's two protected resources (``/mcp`` and ``/api/v1``).

The MCP authorization specification's discovery: a client gets ``401`` from ``/mcp`` with
``WWW-Authenticate: Bearer resource_metadata="<origin>/.well-known/oauth-protected-resource/mcp"``,
reads that document (``resource``, ``authorization_servers``, ``scopes_supported``), then this
server's RFC 8414 document, whose ``issuer`` equals ``authorization_servers[0]``.
"""

from __future__ import annotations

import json

from django.http import JsonResponse
from django.urls import path
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import metadata as dot_metadata

from apps_registry import audience
from apps_registry.oauth import OFFLINE_ACCESS


def issuer(request) -> str:
    return audience.origin(request)


class ServerMetadataView(dot_metadata.OAuthServerMetadataView):
    # The RFC 9396 types the consent layer declares; config/urls.py passes them in (this layer
    # sits below consent and does not import it).
    details_types: tuple[str, ...] = ()

    def get(self, request, *args, **kwargs):
        data = json.loads(super().get(request, *args, **kwargs).content)
        # SEP-2207: offline_access is how MCP clients ask for refresh tokens; here it means
        # background access, and the person decides on the consent screen.
        data["scopes_supported"] = sorted({*data.get("scopes_supported", []), OFFLINE_ACCESS})
        data["authorization_details_types_supported"] = sorted(self.details_types)
        if oauth2_settings.DCR_ENABLED:
            data["registration_endpoint"] = request.build_absolute_uri("/oauth/register/")
        return _json(data)


class ProtectedResourceMetadataView(dot_metadata.OAuthProtectedResourceMetadataView):
    resource_name = ""
    details_types: tuple[str, ...] = ()
    # What the resource names as enough for basic use (MCP: "the minimal set"; more comes by
    # step-up). Never offline_access: refresh tokens are not a resource requirement.
    minimal_scopes: tuple[str, ...] = ()

    def get_resource(self, request):
        return audience.resource_uri(request, self.resource_name)

    def get_authorization_servers(self, request):
        return [issuer(request)]

    def get_scopes_supported(self):
        return list(self.minimal_scopes)

    def get_resource_name(self):
        return audience.NAMES[self.resource_name]

    def get(self, request, *args, **kwargs):
        data = json.loads(super().get(request, *args, **kwargs).content)
        data["authorization_details_types_supported"] = sorted(self.details_types)
        return _json(data)


def _json(data):
    response = JsonResponse(data)
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "public, max-age=300"
    return response


def resource_metadata_url(request, name: str) -> str:
    """The RFC 9728 path-component form: ``<origin>/.well-known/oauth-protected-resource<path>``."""
    return audience.origin(request) + PRM_PREFIX + audience.PROTECTED_RESOURCES[name]


PRM_PREFIX = "/.well-known/oauth-protected-resource"


def urlpatterns(*, details_types, minimal_scopes) -> list:
    """The discovery URLs, mounted at the site root by config/urls.py."""
    return [
        path(
            ".well-known/oauth-authorization-server",
            ServerMetadataView.as_view(details_types=tuple(details_types)),
            name="oauth-server-metadata",
        ),
        *(
            path(
                PRM_PREFIX.lstrip("/") + prefix,
                ProtectedResourceMetadataView.as_view(
                    resource_name=name,
                    details_types=tuple(details_types),
                    minimal_scopes=tuple(minimal_scopes),
                ),
                name=f"oauth-resource-metadata-{name}",
            )
            for name, prefix in audience.PROTECTED_RESOURCES.items()
        ),
    ]
