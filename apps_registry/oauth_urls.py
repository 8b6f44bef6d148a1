from django.urls import path

from apps_registry import oauth_views, registration_views

# Mounted by config/urls.py under /oauth/ in the "oauth2_provider" namespace, beside the
# authorization endpoint (consent).
urlpatterns = [
    path("token/", oauth_views.TokenView.as_view(), name="token"),
    path("revoke_token/", oauth_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", oauth_views.IntrospectTokenView.as_view(), name="introspect"),
    # RFC 7591 (and read-only RFC 7592), hardened: apps_registry/registration_views.py.
    path("register/", registration_views.RegistrationView.as_view(), name="dcr-register"),
    path(
        "register/<str:client_id>/",
        registration_views.RegistrationManagementView.as_view(),
        name="dcr-register-management",
    ),
]
