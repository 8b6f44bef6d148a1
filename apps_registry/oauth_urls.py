from django.urls import path
from oauth2_provider import views as oauth2_views

# Mounted by config/urls.py under /oauth/ in the "oauth2_provider" namespace, beside the
# authorization endpoint (consent).
urlpatterns = [
    path("token/", oauth2_views.TokenView.as_view(), name="token"),
    path("revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", oauth2_views.IntrospectTokenView.as_view(), name="introspect"),
]
