"""allauth OAuth2 adapters whose URLs come from the provider registry at request time."""

from __future__ import annotations

from allauth.socialaccount.providers.base import ProviderException
from allauth.socialaccount.providers.oauth2.client import OAuth2Client
from allauth.socialaccount.providers.oauth2.views import OAuth2Adapter
from django.conf import settings
from django.urls import reverse

from connections import outbound
from connections.providers import get_provider


class PlatformOAuth2Client(OAuth2Client):
    """Slack asks for user-token scopes in ``user_scope``; everyone else in ``scope``."""

    user_scope = False

    def get_redirect_url(self, authorization_url, scope, extra_params) -> str:
        url = super().get_redirect_url(authorization_url, sorted(set(scope)), extra_params)
        if self.user_scope:
            url = url.replace("&scope=", "&user_scope=", 1).replace("?scope=", "?user_scope=", 1)
        return url


def fetch_profile(provider_id: str, access_token: str) -> dict:
    """The provider account behind a token: ``{"id", "login", "name", "email"}``."""
    spec = get_provider(provider_id)
    timeout = settings.CONNECTION_REFRESH_TIMEOUT_SECONDS

    def get(url):
        response = outbound.request(
            "GET", url, origins=spec.origins, bearer=access_token, timeout=timeout
        )
        return response, (response.json_or_none() if response.status == 200 else None)

    try:
        if spec.service == "github":
            response, data = get(f"{spec.api_base_url}/user")
            if not isinstance(data, dict) or "id" not in data or "login" not in data:
                raise ProviderException(
                    f"{spec.name} did not return the account (HTTP {response.status})."
                )
            return {
                "id": str(data["id"]),
                "login": data["login"],
                "name": data.get("name") or data["login"],
                "email": data.get("email"),
            }
        if spec.service == "slack":
            response, data = get(f"{spec.api_base_url}/auth.test")
            if not isinstance(data, dict) or data.get("ok") is not True or "user_id" not in data:
                raise ProviderException(f"{spec.name} did not return the account.")
            return {
                "id": data["user_id"],
                "login": data.get("user") or data["user_id"],
                "name": data.get("user") or "",
                "email": None,
                "team": data.get("team"),
            }
        response, data = get(f"{spec.api_base_url}/oauth2/v3/userinfo")
        if not isinstance(data, dict) or "sub" not in data:
            raise ProviderException(
                f"{spec.name} did not return the account (HTTP {response.status})."
            )
        return {
            "id": str(data["sub"]),
            "login": data.get("email") or data["sub"],
            "name": data.get("name") or "",
            "email": data.get("email"),
        }
    except outbound.OutboundError as exc:
        raise ProviderException(exc.message.replace("The service", spec.name)) from None


class PlatformOAuth2Adapter(OAuth2Adapter):
    client_class = PlatformOAuth2Client

    @property
    def spec(self):
        return get_provider(self.provider_id)

    @property
    def authorize_url(self):
        return self.spec.authorize_url

    @property
    def access_token_url(self):
        return self.spec.token_url

    @property
    def scope_delimiter(self):
        return self.spec.scope_delimiter

    def get_callback_url(self, request, app):
        if self.spec.is_sandbox:
            # The sandbox registered exactly this redirect URI (exact matching, RFC 9700).
            return settings.SANDBOX_BASE_URL.rstrip("/") + reverse(f"{self.provider_id}_callback")
        return super().get_callback_url(request, app)

    def get_client(self, request, app):
        client = super().get_client(request, app)
        client.user_scope = self.spec.dialect == "slack"
        return client

    def complete_login(self, request, app, token, **kwargs):
        profile = fetch_profile(self.provider_id, token.token)
        return self.get_provider().sociallogin_from_response(request, profile)


def _adapter(provider_id: str, name: str) -> type[PlatformOAuth2Adapter]:
    return type(
        name, (PlatformOAuth2Adapter,), {"provider_id": provider_id, "__module__": __name__}
    )


GitHubAdapter = _adapter("github", "GitHubAdapter")
SlackAdapter = _adapter("slack", "SlackAdapter")
GoogleAdapter = _adapter("google", "GoogleAdapter")
SandboxGitHubAdapter = _adapter("sandbox_github", "SandboxGitHubAdapter")
SandboxSlackAdapter = _adapter("sandbox_slack", "SandboxSlackAdapter")
SandboxGoogleAdapter = _adapter("sandbox_google", "SandboxGoogleAdapter")
ADAPTERS = {
    a.provider_id: a
    for a in (
        GitHubAdapter,
        SlackAdapter,
        GoogleAdapter,
        SandboxGitHubAdapter,
        SandboxSlackAdapter,
        SandboxGoogleAdapter,
    )
}
