"""Login and callback URLs of every registry provider (allauth mounts these under /accounts/)."""

from django.urls import path

from connections.oauth import views
from connections.oauth.adapters import ADAPTERS

urlpatterns = []
for _provider_id in ADAPTERS:
    urlpatterns += [
        path(
            f"{_provider_id}/login/",
            views.login,
            {"provider_id": _provider_id},
            name=f"{_provider_id}_login",
        ),
        path(
            f"{_provider_id}/login/callback/",
            views.callback_view(_provider_id),
            name=f"{_provider_id}_callback",
        ),
    ]
