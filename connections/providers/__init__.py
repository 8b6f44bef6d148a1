"""The provider registry: every provider is one declaration (``connections.providers.<name>``, or
a data file for a generic OAuth 2.0 / OIDC provider) over :mod:`connections.providers.base`.

Everything that needs to know about a provider reads it here: the connect flow (allauth classes
and URLs are generated from it), the token endpoint dialect, resource listing, the consent
catalog's provider scopes, the broker. Real providers' endpoints can be moved with
``settings.PROVIDER_URLS`` (GitHub Enterprise, or a local fake in tests); the sandbox flavours
derive theirs from ``settings.SANDBOX_BASE_URL`` (the platform calls its own sandbox over real
HTTP). ``settings.CONNECTION_PROVIDERS`` lists, explicitly, the declarations that are registered.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from connections import outbound
from connections.providers.base import Listing, Paging, Profile, ProviderSpec, sandbox_flavour
from connections.providers.generic import from_data
from connections.providers.github import GITHUB
from connections.providers.google import GOOGLE
from connections.providers.operations import Operation
from connections.providers.slack import SLACK

__all__ = [
    "BUILTIN",
    "GITHUB",
    "GOOGLE",
    "SANDBOX_GITHUB",
    "SANDBOX_GOOGLE",
    "SANDBOX_SLACK",
    "SLACK",
    "Listing",
    "Operation",
    "Paging",
    "Profile",
    "ProviderSpec",
    "UnknownProvider",
    "all_operations",
    "all_providers",
    "available_providers",
    "client_credentials",
    "declared",
    "get_provider",
    "service_declarations",
]  # fmt: skip


class UnknownProvider(LookupError):
    pass


# The providers that ship with the platform (the API schema documents their operations).
BUILTIN = (GITHUB, SLACK, GOOGLE)

# Sandbox flavours: URLs are relative paths here, resolved against SANDBOX_BASE_URL.
SANDBOX_GITHUB = sandbox_flavour(GITHUB, api_path="/sandbox/github")
SANDBOX_SLACK = sandbox_flavour(SLACK, api_path="/sandbox/slack/api")
SANDBOX_GOOGLE = sandbox_flavour(GOOGLE, api_path="/sandbox/google")

URL_FIELDS = ("authorize_url", "token_url", "revoke_url", "api_base_url")
# settings.PROVIDER_URLS keys (config.env: <PROVIDER>_<KEY>_URL) -> declaration fields.
URL_SETTING_KEYS = {
    "authorize": "authorize_url",
    "token": "token_url",
    "revoke": "revoke_url",
    "api": "api_base_url",
    "issuer": "issuer",
}


def declarations_of(paths, generic=()) -> list[ProviderSpec]:
    """The declarations named by dotted paths, then the generic (data-file) ones, in order,
    duplicates included (the system check ``connections.E101`` reports them)."""
    return [import_string(path) for path in paths] + [from_data(entry) for entry in generic]


@cache
def _declarations(paths: tuple[str, ...], generic: tuple) -> dict[str, ProviderSpec]:
    registry: dict[str, ProviderSpec] = {}
    for spec in declarations_of(paths, generic):
        registry.setdefault(spec.id, spec)  # a duplicate is a start-up error (system check)
    return registry


def _settings_key() -> tuple[tuple[str, ...], tuple]:
    """What the registry is built from, hashable: the registry is cached per value of it."""
    return tuple(settings.CONNECTION_PROVIDERS), _frozen(getattr(settings, "GENERIC_PROVIDERS", ()))


def _registered() -> dict[str, ProviderSpec]:
    return _declarations(*_settings_key())


def _frozen(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def declared() -> list[ProviderSpec]:
    """Every registered declaration, sandbox ones included whatever SANDBOX_ENABLED says, with
    unresolved URLs: what start-up (allauth classes, URL patterns, the catalog) is built from."""
    return list(_registered().values())


def service_declarations() -> list[ProviderSpec]:
    """One declaration per service, the first registered: the one whose operations the broker
    serves (a sandbox flavour carries the same operations as its real provider; the broker
    picks the connection's provider per call)."""
    return list(_by_service(*_settings_key()).values())


def all_operations() -> dict[str, Operation]:
    """Every registered broker operation by name, built-in and data-declared alike: the
    broker's routes, MCP tools and start-up checks are generated from this."""
    return _operations(*_settings_key())


@cache
def _by_service(paths: tuple[str, ...], generic: tuple) -> dict[str, ProviderSpec]:
    by_service: dict[str, ProviderSpec] = {}
    for spec in _declarations(paths, generic).values():
        by_service.setdefault(spec.service, spec)
    return by_service


@cache
def _operations(paths: tuple[str, ...], generic: tuple) -> dict[str, Operation]:
    specs = _by_service(paths, generic).values()
    return {op.name: op for spec in specs for op in spec.operations}


def _resolve(spec: ProviderSpec) -> ProviderSpec:
    if spec.is_sandbox:
        base = settings.SANDBOX_BASE_URL.rstrip("/")
        return spec.with_urls(**{f: base + getattr(spec, f) for f in URL_FIELDS})
    overrides = settings.PROVIDER_URLS.get(spec.id, {})
    spec = spec.with_urls(
        **{URL_SETTING_KEYS[k]: v for k, v in overrides.items() if k in URL_SETTING_KEYS}
    )
    if spec.generic and spec.issuer and not (spec.authorize_url and spec.token_url):
        spec = _discovered(spec)
    return spec


_DISCOVERY: dict[str, dict[str, str]] = {}


def _discovered(spec: ProviderSpec) -> ProviderSpec:
    """A data-declared provider that names only its issuer: the endpoints from its OpenID
    Connect discovery document (RFC 8414 metadata), read once per process through the outbound
    client. The document's ``issuer`` must be the configured one (RFC 8414 section 3.3)."""
    found = _DISCOVERY.get(spec.issuer)
    if found is None:
        try:
            response = outbound.request(
                "GET",
                f"{spec.issuer}/.well-known/openid-configuration",
                origins=(spec.issuer,),
                timeout=settings.CONNECTION_REFRESH_TIMEOUT_SECONDS,
            )
        except outbound.OutboundError:
            return spec  # not cached: the next use tries again
        data = response.json_or_none() if response.status == 200 else None
        if not isinstance(data, dict) or data.get("issuer") != spec.issuer:
            return spec
        found = {
            "authorize_url": str(data.get("authorization_endpoint") or ""),
            "token_url": str(data.get("token_endpoint") or ""),
            "revoke_url": str(data.get("revocation_endpoint") or ""),
        }
        _DISCOVERY[spec.issuer] = found
    return spec.with_urls(**{k: v for k, v in found.items() if not getattr(spec, k)})


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
