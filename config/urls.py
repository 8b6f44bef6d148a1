from django.contrib import admin
from django.urls import include, path

from access import views as access_views
from apps_registry import metadata as oauth_metadata
from apps_registry import oauth_urls as apps_registry_oauth_urls
from broker.mcp_server import mcp_endpoint
from config.health import healthz
from consent.catalog import AUTHORIZATION_DETAILS_TYPES, CATALOG, Access
from consent.views import AuthorizeView
from identity.views import admin_login

admin.site.site_header = "Agent Access Platform administration"
# The admin's own login form would bypass allauth's MFA step: send staff through allauth instead.
admin.site.login = admin_login

oauth_urlpatterns = [
    path("authorize/", AuthorizeView.as_view(), name="authorize"),
    *apps_registry_oauth_urls.urlpatterns,
]

# The machine endpoints come first: Django tries the patterns in order, and every brokered call
# and token request would otherwise be matched against the admin's, allauth's and the site's
# patterns before its own (about 4% of a brokered call's CPU). No site pattern starts with these
# prefixes, so the order changes no match.
urlpatterns = [
    path("api/v1/", include("broker.urls")),
    # The MCP endpoint (streamable HTTP): the broker's operations as tools (broker/mcp_server.py).
    path("mcp", mcp_endpoint, name="mcp"),
    # The authorization endpoint is the consent screen (consent); the rest of the authorization
    # server (token, revocation, introspection) belongs to apps_registry.
    path("oauth/", include((oauth_urlpatterns, "oauth2_provider"))),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("identity.urls")),
    # Disconnecting says which apps lose access (consent's facts), so it is a Your access page
    # (access sits above connections and consent), at the connections' address.
    path(
        "connections/<int:pk>/disconnect/",
        access_views.disconnect,
        name="connection_disconnect",
    ),
    path("connections/", include("connections.urls")),
    path("sandbox/", include("connections.sandbox.urls")),  # connections: the sandbox provider
    path("developer/", include("apps_registry.urls")),
    # RFC 8414 and RFC 9728 (for /mcp and /api/v1) discovery documents.
    path(
        "",
        include(
            (
                oauth_metadata.urlpatterns(
                    details_types=AUTHORIZATION_DETAILS_TYPES,
                    minimal_scopes=[s.name for s in CATALOG.values() if s.access == Access.READ],
                ),
                "oauth2_metadata",
            )
        ),
    ),
    path("consent/", include("consent.urls")),
    path("access/", include("access.urls")),
]

# Error pages in the site's style, and the API's JSON shape under /api/v1/ (config/errors.py).
handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
