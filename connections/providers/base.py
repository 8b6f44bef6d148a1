"""What a provider is: one frozen declaration over this base.

A :class:`ProviderSpec` says everything the platform needs to know about one provider: its OAuth
endpoints and dialect (scope separator, token response shape, PKCE, refresh rotation), how it
revokes (:mod:`connections.providers.revocation`), the provider scopes each platform scope needs
and what each lets the platform do in words, the resource kinds it lists (where, how it pages,
how each item is read), its account identity (profile endpoint and fields), and its broker
operations with their answer handling (:mod:`connections.providers.operations`). Code reads
these; nothing else names a provider. Adding a provider is one declaration (a module here, or a
data file for a generic OAuth 2.0 / OIDC provider, ``connections.providers.generic``) plus its
fake in tests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from connections.outbound import origin_of
from connections.providers.answers import NO_PAGING, Paging
from connections.providers.operations import Operation
from connections.providers.revocation import RFC7009, Revocation


@dataclass(frozen=True, slots=True)
class Listing:
    """The person's resources of one kind at the provider (for the consent screen's picker)."""

    kind: str
    path: str  # relative to api_base_url
    items_path: tuple[str, ...] = ()  # () = the body is the list
    id_field: str = "id"
    label_field: str = ""  # "" = the id
    label_prefix: str = ""
    query: Mapping[str, str] = field(default_factory=dict)
    # Keep only items whose ``filter_field`` equals ``filter_value`` (Drive folders).
    filter_field: str = ""
    filter_value: str = ""
    paging: Paging = NO_PAGING
    # Where the item says it is private (shown on the consent screen), if it does.
    private_field: str = ""
    # Provider status -> the provider scope the connection lacks (Drive answers 403).
    missing_scope_status: int | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """Who the token belongs to: the endpoint and where each field of the account is."""

    path: str  # relative to api_base_url, or an absolute URL on one of the provider's hosts
    id_field: str = "id"
    login_fields: tuple[str, ...] = ("login",)
    name_fields: tuple[str, ...] = ("name",)
    email_field: str = "email"
    required: tuple[str, ...] = ()  # () = the id field
    extra_fields: tuple[str, ...] = ()


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
    # How the token endpoint, revocation and API answers speak: "github", "slack" or "oauth2"
    # (RFC 6749/7009; Slack's {"ok": false} bodies are the "slack" dialect everywhere).
    dialect: str = "oauth2"
    scope_delimiter: str = " "
    # Slack asks for user-token scopes in ``user_scope``; everyone else in ``scope``.
    scope_param: str = "scope"
    pkce: bool = True
    # Google only returns a refresh token with access_type=offline; without one the connection
    # would die within the hour, so the connect flow refuses a response that lacks it.
    requires_refresh_token: bool = False
    # How a disconnect tells the provider to forget the tokens (connections.providers.revocation).
    revocation: Revocation = RFC7009
    # The provider rotates refresh tokens (a refresh answer carries a new one; the old is spent).
    rotates_refresh_tokens: bool = False
    extra_authorize_params: tuple[tuple[str, str], ...] = ()
    # The authorize request may name the account being upgraded (OIDC ``login_hint``); Slack's
    # has no such parameter.
    login_hint: bool = True
    # Platform scope -> the provider scopes a connection must hold for it.
    scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Provider scope -> what it lets whoever holds it do, in words (shown on the consent screen).
    scope_words: Mapping[str, str] = field(default_factory=dict)
    listings: tuple[Listing, ...] = ()
    profile: Profile | None = None
    # Discovery issuer of an OIDC provider (endpoints read from its metadata when not given).
    issuer: str = ""
    # Declared in a data file (connections.providers.generic), not in a module.
    generic: bool = False
    # The broker operations of its service, with their answer handling
    # (connections.providers.operations); sandbox flavours share the real provider's.
    operations: tuple[Operation, ...] = ()
    # A data-declared provider also declares, as plain data, the platform scopes it backs
    # (read by consent.catalog) and the sentence people read about its service.
    platform_scopes: tuple[Mapping, ...] = ()
    service_sentence: str = ""

    @property
    def url_key(self) -> str:
        return self.id

    @property
    def origins(self) -> frozenset[str]:
        """The hosts the platform may send this provider's credentials to: its configured
        endpoints' origins, nothing else (``connections.outbound`` refuses any other URL)."""
        return frozenset(
            origin_of(getattr(self, f))
            for f in ("authorize_url", "token_url", "revoke_url", "api_base_url", "issuer")
            if getattr(self, f)
        )

    @property
    def resource_kinds(self) -> tuple[str, ...]:
        return tuple(listing.kind for listing in self.listings)

    def listing(self, kind: str) -> Listing | None:
        return next((listing for listing in self.listings if listing.kind == kind), None)

    def with_urls(self, **urls: str) -> ProviderSpec:
        return dataclasses.replace(self, **urls)


def sandbox_flavour(spec: ProviderSpec, *, api_path: str) -> ProviderSpec:
    """The sandbox flavour of a real provider: same dialect and scopes, URLs relative to
    ``SANDBOX_BASE_URL`` (resolved by the registry), standard RFC 7009 revocation."""
    return dataclasses.replace(
        spec,
        id=f"sandbox_{spec.id}",
        name=f"Sandbox {spec.name}",
        is_sandbox=True,
        authorize_url=f"/sandbox/oauth/sandbox_{spec.id}/authorize",
        token_url="/sandbox/oauth/token",
        revoke_url="/sandbox/oauth/revoke",
        api_base_url=api_path,
        revocation=RFC7009,
    )
