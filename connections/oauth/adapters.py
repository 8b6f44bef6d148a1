"""allauth OAuth2 adapters whose URLs come from the provider registry at request time."""

from __future__ import annotations

from allauth.socialaccount.providers.base import ProviderException
from allauth.socialaccount.providers.oauth2.client import OAuth2Client
from allauth.socialaccount.providers.oauth2.views import OAuth2Adapter
from django.conf import settings
from django.urls import reverse

from connections import outbound
from connections.providers import answers, declared, get_provider


class PlatformOAuth2Client(OAuth2Client):
    """Slack asks for user-token scopes in ``user_scope``; everyone else in ``scope``."""

    user_scope = False

    def get_redirect_url(self, authorization_url, scope, extra_params) -> str:
        url = super().get_redirect_url(authorization_url, sorted(set(scope)), extra_params)
        if self.user_scope:
            url = url.replace("&scope=", "&user_scope=", 1).replace("?scope=", "?user_scope=", 1)
        return url


def fetch_profile(provider_id: str, access_token: str) -> dict:
    """The provider account behind a token, ``{"id", "login", "name", "email", ...}``, read as the
    provider's declaration (:class:`connections.providers.base.Profile`) says."""
    spec = get_provider(provider_id)
    profile = spec.profile
    path = profile.path.replace("{issuer}", spec.issuer)
    url = path if "://" in path else f"{spec.api_base_url}{path}"
    try:
        response = outbound.request(
            "GET",
            url,
            origins=spec.origins,
            bearer=access_token,
            timeout=settings.CONNECTION_REFRESH_TIMEOUT_SECONDS,
        )
    except outbound.OutboundError as exc:
        raise ProviderException(exc.message.replace("The service", spec.name)) from None
    data = response.json_or_none() if response.status == 200 else None
    if (
        not isinstance(data, dict)
        or answers.ok_false_error(spec.dialect, data)
        or not all(data.get(f) not in (None, "") for f in profile.required or (profile.id_field,))
    ):
        raise ProviderException(f"{spec.name} did not return the account (HTTP {response.status}).")

    def first(fields):
        return next((str(data[f]) for f in fields if data.get(f) not in (None, "")), "")

    found = {
        "id": str(data[profile.id_field]),
        "login": first(profile.login_fields) or str(data[profile.id_field]),
        "name": first(profile.name_fields),
        "email": data.get(profile.email_field) if profile.email_field else None,
    }
    found.update({f: data.get(f) for f in profile.extra_fields})
    return found


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
        client.user_scope = self.spec.scope_param == "user_scope"
        return client

    def complete_login(self, request, app, token, **kwargs):
        profile = fetch_profile(self.provider_id, token.token)
        return self.get_provider().sociallogin_from_response(request, profile)


def _adapter(provider_id: str) -> type[PlatformOAuth2Adapter]:
    name = "".join(part.title() for part in provider_id.split("_")) + "Adapter"
    return type(
        name, (PlatformOAuth2Adapter,), {"provider_id": provider_id, "__module__": __name__}
    )


# One allauth adapter per declared provider (the registry is fixed at start-up).
ADAPTERS = {spec.id: _adapter(spec.id) for spec in declared()}
