"""The provider registry: where a connection's tokens come from.

A provider is a short frozen declaration. Real providers' endpoints can be moved with
``settings.PROVIDER_URLS`` (GitHub Enterprise, or a local fake in tests); the sandbox flavours
derive theirs from ``settings.SANDBOX_BASE_URL`` (the platform calls its own sandbox over real
HTTP). ``settings.CONNECTION_PROVIDERS`` lists, explicitly, the declarations that are registered.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string


class UnknownProvider(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    id: str
    name: str
    service: str
    is_sandbox: bool
    default_scopes: tuple[str, ...]
    authorize_url: str
    token_url: str
    revoke_url: str
    api_base_url: str
    # How the token endpoint and revocation speak: "github", "slack" or "oauth2" (RFC 6749/7009).
    dialect: str = "oauth2"
    scope_delimiter: str = " "
    # Google only returns a refresh token with access_type=offline; without one the connection
    # would die within the hour, so the connect flow refuses a response that lacks it.
    requires_refresh_token: bool = False
    extra_authorize_params: tuple[tuple[str, str], ...] = ()

    @property
    def url_key(self) -> str:
        return self.id

    @property
    def origins(self) -> frozenset[str]:
        """The hosts the platform may send this provider's credentials to: its configured
        endpoints' origins, nothing else (``connections.outbound`` refuses any other URL)."""
        from connections.outbound import origin_of

        return frozenset(
            origin_of(getattr(self, f))
            for f in ("authorize_url", "token_url", "revoke_url", "api_base_url")
            if getattr(self, f)
        )

    def with_urls(self, **urls: str) -> ProviderSpec:
        return dataclasses.replace(self, **urls)


GITHUB = ProviderSpec(
    id="github",
    name="GitHub",
    service="github",
    is_sandbox=False,
    default_scopes=("read:user",),
    authorize_url="https://github.com/login/oauth/authorize",
    token_url="https://github.com/login/oauth/access_token",
    revoke_url="https://api.github.com/applications/{client_id}/grant",
    api_base_url="https://api.github.com",
    dialect="github",
)

SLACK = ProviderSpec(
    id="slack",
    name="Slack",
    service="slack",
    is_sandbox=False,
    default_scopes=("users:read",),
    authorize_url="https://slack.com/oauth/v2/authorize",
    token_url="https://slack.com/api/oauth.v2.access",
    revoke_url="https://slack.com/api/auth.revoke",
    api_base_url="https://slack.com/api",
    dialect="slack",
    scope_delimiter=",",
)

GOOGLE = ProviderSpec(
    id="google",
    name="Google",
    service="google",
    is_sandbox=False,
    default_scopes=("openid", "email", "profile"),
    authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
    token_url="https://oauth2.googleapis.com/token",
    revoke_url="https://oauth2.googleapis.com/revoke",
    api_base_url="https://www.googleapis.com",
    requires_refresh_token=True,
    extra_authorize_params=(
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("include_granted_scopes", "true"),
    ),
)

# Sandbox flavours: URLs are relative paths here, resolved against SANDBOX_BASE_URL.
SANDBOX_GITHUB = dataclasses.replace(
    GITHUB,
    id="sandbox_github",
    name="Sandbox GitHub",
    is_sandbox=True,
    authorize_url="/sandbox/oauth/sandbox_github/authorize",
    token_url="/sandbox/oauth/token",
    revoke_url="/sandbox/oauth/revoke",
    api_base_url="/sandbox/github",
)
SANDBOX_SLACK = dataclasses.replace(
    SLACK,
    id="sandbox_slack",
    name="Sandbox Slack",
    is_sandbox=True,
    authorize_url="/sandbox/oauth/sandbox_slack/authorize",
    token_url="/sandbox/oauth/token",
    revoke_url="/sandbox/oauth/revoke",
    api_base_url="/sandbox/slack/api",
)
SANDBOX_GOOGLE = dataclasses.replace(
    GOOGLE,
    id="sandbox_google",
    name="Sandbox Google",
    is_sandbox=True,
    authorize_url="/sandbox/oauth/sandbox_google/authorize",
    token_url="/sandbox/oauth/token",
    revoke_url="/sandbox/oauth/revoke",
    api_base_url="/sandbox/google",
)

URL_FIELDS = ("authorize_url", "token_url", "revoke_url", "api_base_url")
# settings.PROVIDER_URLS keys (config.env: <PROVIDER>_<KEY>_URL) -> declaration fields.
URL_SETTING_KEYS = {
    "authorize": "authorize_url",
    "token": "token_url",
    "revoke": "revoke_url",
    "api": "api_base_url",
}


@cache
def _declarations(paths: tuple[str, ...]) -> dict[str, ProviderSpec]:
    specs = [import_string(path) for path in paths]
    registry: dict[str, ProviderSpec] = {}
    for spec in specs:
        if spec.id in registry:
            raise ValueError(f"Provider {spec.id!r} is registered twice.")
        registry[spec.id] = spec
    return registry


def _registered() -> dict[str, ProviderSpec]:
    return _declarations(tuple(settings.CONNECTION_PROVIDERS))


def _resolve(spec: ProviderSpec) -> ProviderSpec:
    if spec.is_sandbox:
        base = settings.SANDBOX_BASE_URL.rstrip("/")
        return spec.with_urls(**{f: base + getattr(spec, f) for f in URL_FIELDS})
    overrides = settings.PROVIDER_URLS.get(spec.id, {})
    return spec.with_urls(
        **{URL_SETTING_KEYS[k]: v for k, v in overrides.items() if k in URL_SETTING_KEYS}
    )


def get_provider(provider_id: str) -> ProviderSpec:
    """The declaration for ``provider_id`` with its URLs resolved from the current settings."""
    spec = _registered().get(provider_id)
    if spec is None or (spec.is_sandbox and not settings.SANDBOX_ENABLED):
        raise UnknownProvider(provider_id)
    return _resolve(spec)


def all_providers() -> list[ProviderSpec]:
    """Every provider a person may connect now (sandbox ones only when SANDBOX_ENABLED)."""
    return [
        _resolve(spec)
        for spec in _registered().values()
        if settings.SANDBOX_ENABLED or not spec.is_sandbox
    ]


def available_providers() -> list[ProviderSpec]:
    """Providers that can actually be used: sandbox ones, and real ones with credentials."""
    return [p for p in all_providers() if p.is_sandbox or p.id in settings.PROVIDER_CREDENTIALS]


def sandbox_client_credentials(provider_id: str) -> tuple[str, str]:
    """The platform's client id and secret at its own sandbox (derived, never configured)."""
    client_id = f"platform-{provider_id}"
    secret = hmac.new(
        settings.SECRET_KEY.encode(), f"sandbox-client:{client_id}".encode(), hashlib.sha256
    ).hexdigest()[:40]
    return client_id, secret


def client_credentials(provider_id: str) -> tuple[str, str]:
    spec = get_provider(provider_id)
    if spec.is_sandbox:
        return sandbox_client_credentials(provider_id)
    creds = settings.PROVIDER_CREDENTIALS.get(provider_id)
    if not creds:
        raise UnknownProvider(f"{provider_id} has no client credentials configured")
    return creds["client_id"], creds["secret"]
