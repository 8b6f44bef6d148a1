"""django-allauth provider classes for every entry of the registry (allauth loads this module).

allauth's built-in GitHub and Google providers read their URLs at import time and its Slack
provider is sign-in only, so each registry entry gets a short class here on allauth's OAuth2 base,
whose URLs come from :mod:`connections.providers` at request time. The views live in
``connections.oauth`` (``package``), mounted under ``/accounts/<provider>/``.
"""

from __future__ import annotations

from allauth.socialaccount.providers.base import ProviderAccount
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider

from connections.oauth.adapters import ADAPTERS
from connections.providers import declared, get_provider


class PlatformAccount(ProviderAccount):
    def to_str(self):
        return self.account.extra_data.get("login") or super().to_str()


class PlatformProvider(OAuth2Provider):
    package = "connections.oauth"
    account_class = PlatformAccount

    def get_default_scope(self):
        return list(get_provider(self.id).default_scopes)

    def get_auth_params(self):
        params = dict(get_provider(self.id).extra_authorize_params)
        params.update(super().get_auth_params())
        return params

    @property
    def pkce_enabled_default(self):
        return get_provider(self.id).pkce

    def extract_uid(self, data):
        return str(data["id"])

    def extract_common_fields(self, data):
        return {"email": data.get("email"), "name": data.get("name")}

    def extract_extra_data(self, data):
        return {k: data.get(k) for k in ("id", "login", "name", "email")}


def _provider(provider_id: str, display: str, adapter) -> type[PlatformProvider]:
    return type(
        f"{adapter.__name__.removesuffix('Adapter')}Provider",
        (PlatformProvider,),
        {
            "id": provider_id,
            "name": display,
            "oauth2_adapter_class": adapter,
            "__module__": __name__,
        },
    )


# One allauth provider class per declared provider, generated from the registry.
provider_classes = [_provider(spec.id, spec.name, ADAPTERS[spec.id]) for spec in declared()]
