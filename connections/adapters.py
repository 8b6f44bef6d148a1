"""allauth's socialaccount adapter for the platform: connections only, never social sign-in."""

from __future__ import annotations

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp
from django.urls import reverse

from connections.providers import UnknownProvider, available_providers, client_credentials


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def list_apps(self, request, provider=None, client_id=None):
        # The apps come from the provider registry (URLs and credentials from settings, the
        # sandbox's derived), not from the database: they change with settings, at runtime.
        apps = []
        for spec in available_providers():
            if provider and spec.id != provider:
                continue
            try:
                app_client_id, secret = client_credentials(spec.id)
            except UnknownProvider:
                continue
            if client_id and app_client_id != client_id:
                continue
            # hidden: never offered on allauth's sign-in page (providers connect, never sign in).
            apps.append(
                SocialApp(
                    provider=spec.id,
                    name=spec.name,
                    client_id=app_client_id,
                    secret=secret,
                    settings={"hidden": True},
                )
            )
        return apps

    def is_open_for_signup(self, request, sociallogin):
        return False

    def pre_social_login(self, request, sociallogin):
        # Providers connect services to a signed-in person; they never sign anyone in.
        if sociallogin.state.get("process") != "connect" or not request.user.is_authenticated:
            from connections.providers import get_provider
            from connections.services import connect_failed_page

            raise ImmediateHttpResponse(
                connect_failed_page(
                    request,
                    get_provider(sociallogin.account.provider),
                    "Services can only be connected by a signed-in person.",
                )
            )

    def get_connect_redirect_url(self, request, socialaccount):
        return reverse("connections:list")
