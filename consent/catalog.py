"""The platform scope catalog, as data.

Apps ask for these scopes, never for provider scopes. Each entry says, for people, what it allows;
for the consent engine, which provider scopes a connection needs (read from the provider
declarations, ``connections.providers``); for the broker, what kind of
resource the scope narrows to. ``consent.checks`` validates the catalog at start-up.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum

from connections.providers import declared
from connections.providers.kinds import KINDS


class Access(StrEnum):
    READ = "read"
    WRITE = "write"
    PLATFORM = "platform"  # a permission about the platform itself (background, unattended)


class Flag(StrEnum):
    BACKGROUND = "background"
    UNATTENDED_WRITES = "unattended_writes"


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    name: str
    # What the platform does there on the person's behalf, in one sentence for people.
    on_your_behalf: str


@dataclass(frozen=True, slots=True)
class Scope:
    name: str
    sentence: str
    access: Access
    service: str | None = None
    # Provider id -> provider scopes a connection must hold for this platform scope.
    provider_scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    resource_kind: str | None = None
    flags: frozenset[Flag] = frozenset()

    @property
    def is_write(self) -> bool:
        return self.access == Access.WRITE


SERVICES: dict[str, Service] = {
    s.id: s
    for s in (
        Service("github", "GitHub", "read and change repositories, issues and comments as you"),
        Service("slack", "Slack", "read channels and post messages as you"),
        Service("google", "Google Drive", "read and create files in your Drive as you"),
    )
}

# What each provider scope lets whoever holds it do, in the provider's own words, shown beside the
# raw name on the consent screen: each provider's declaration says it (``scope_words``). The
# platform holds the provider scope; apps get only what the platform scope allows.
PROVIDER_SCOPE_WORDS: dict[str, str] = {
    name: words
    for spec in reversed(declared())  # the first declaration that words a scope wins
    for name, words in spec.scope_words.items()
}


def provider_scope_words(name: str) -> str:
    return PROVIDER_SCOPE_WORDS.get(name, "")


CATALOG: dict[str, Scope] = {
    s.name: s
    for s in (
        Scope(
            "identity.profile.read",
            "See your name and e-mail address",
            Access.READ,
        ),
        Scope(
            "services.github.repositories.read",
            "Read selected GitHub repositories: their details, files and issues",
            Access.READ,
            service="github",
            resource_kind="repository",
        ),
        Scope(
            "services.github.repositories.write",
            "Open issues and post comments in selected GitHub repositories",
            Access.WRITE,
            service="github",
            resource_kind="repository",
        ),
        Scope(
            "services.github.organisations.read",
            "See selected GitHub organisations you belong to",
            Access.READ,
            service="github",
            resource_kind="organisation",
        ),
        Scope(
            "services.slack.channels.read",
            "Read the channel list and messages in selected Slack channels",
            Access.READ,
            service="slack",
            resource_kind="channel",
        ),
        Scope(
            "services.slack.messages.write",
            "Post messages in selected Slack channels",
            Access.WRITE,
            service="slack",
            resource_kind="channel",
        ),
        Scope(
            "services.google.drive.files.read",
            "Read files in selected Google Drive folders",
            Access.READ,
            service="google",
            resource_kind="folder",
        ),
        Scope(
            "services.google.drive.files.write",
            "Create files in selected Google Drive folders",
            Access.WRITE,
            service="google",
            resource_kind="folder",
        ),
        Scope(
            "agents.jobs.background",
            "Keep access while you are away (scheduled syncs, long tasks)",
            Access.PLATFORM,
            flags=frozenset({Flag.BACKGROUND}),
        ),
        Scope(
            "agents.actions.unattended_writes",
            "Make changes without asking you each time",
            Access.PLATFORM,
            flags=frozenset({Flag.UNATTENDED_WRITES}),
        ),
    )
}

BACKGROUND_SCOPE = "agents.jobs.background"
UNATTENDED_WRITES_SCOPE = "agents.actions.unattended_writes"


def _with_provider_scopes(catalog: dict[str, Scope]) -> dict[str, Scope]:
    """Each scope's provider mapping, read from the provider declarations (the registry): a
    provider says which of its scopes each platform scope needs; the catalog names none."""
    mapping: dict[str, dict[str, tuple[str, ...]]] = {}
    for spec in declared():
        for name, provider_scopes in spec.scopes.items():
            mapping.setdefault(name, {})[spec.id] = tuple(provider_scopes)
    return {
        name: dataclasses.replace(scope, provider_scopes=mapping.get(name, {}))
        for name, scope in catalog.items()
    }


def _generic_scopes() -> list[Scope]:
    """The platform scopes data-declared providers back (PROVIDERS_FILE ``platform_scopes``)."""
    return [
        Scope(
            str(entry["name"]),
            str(entry["sentence"]),
            Access(entry.get("access", "read")),
            service=spec.service,
            resource_kind=entry.get("resource_kind"),
        )
        for spec in declared()
        for entry in spec.platform_scopes
    ]


for _spec in declared():
    if _spec.generic:
        SERVICES.setdefault(
            _spec.service, Service(_spec.service, _spec.name, _spec.service_sentence)
        )
for _scope in _generic_scopes():
    CATALOG.setdefault(_scope.name, _scope)
CATALOG = _with_provider_scopes(CATALOG)

# Which service each provider serves, from the registry.
PROVIDER_SERVICES: dict[str, str] = {spec.id: spec.service for spec in declared()}

# The kinds of resource a scope may be narrowed to, with the words people see.
RESOURCE_KINDS: dict[str, tuple[str, str]] = {
    kind.name: (kind.singular, kind.plural) for kind in KINDS.values()
}

# RFC 9396 ``authorization_details`` types, one per (service, resource kind) that scopes narrow
# to: ``{"type": "github_repository", "actions": ["read"], "identifier": "octo/docs"}`` asks for
# the read scope of that service narrowed to that repository (consent/rar.py).
AUTHORIZATION_DETAILS_TYPES: dict[str, tuple[str, str]] = {
    "github_repository": ("github", "repository"),
    "github_organization": ("github", "organisation"),
    "slack_channel": ("slack", "channel"),
    "google_drive_folder": ("google", "folder"),
}


def get_scope(name: str) -> Scope | None:
    return CATALOG.get(name)


def is_platform_choice(name: str) -> bool:
    """Background access and unattended writes: always a separate choice, off by default."""
    scope = CATALOG.get(name)
    return scope is not None and scope.access == Access.PLATFORM and bool(scope.flags)
