"""Start-up checks of the provider registry (``connections.E1xx``); the catalog and broker sides
are checked by ``consent.checks`` (E020, E021) and ``broker.checks`` (E002, E003)."""

from __future__ import annotations

from collections import Counter

from django.conf import settings
from django.core.checks import Error, register

from connections.providers import declarations_of
from connections.providers.kinds import KINDS


def registry_errors(declarations) -> list[Error]:
    errors = []
    counts = Counter(spec.id for spec in declarations)
    for provider_id, count in sorted(counts.items()):
        if count > 1:
            errors.append(
                Error(
                    f"Provider {provider_id!r} is declared {count} times.",
                    hint="Each provider is one declaration: remove the duplicate from "
                    "CONNECTION_PROVIDERS or from the PROVIDERS_FILE data file.",
                    obj="connections.providers",
                    id="connections.E101",
                )
            )
    for spec in declarations:
        for listing in spec.listings:
            if listing.kind not in KINDS:
                errors.append(
                    Error(
                        f"Provider {spec.id!r} lists the unknown resource kind {listing.kind!r}.",
                        hint=f"Known kinds: {', '.join(sorted(KINDS))} "
                        "(connections/providers/kinds.py).",
                        obj=f"connections.providers.{spec.id}",
                        id="connections.E102",
                    )
                )
        if spec.profile is None:
            errors.append(
                Error(
                    f"Provider {spec.id!r} does not say how to read its account (profile).",
                    hint="Declare profile=Profile(path, id_field, ...) in its declaration.",
                    obj=f"connections.providers.{spec.id}",
                    id="connections.E103",
                )
            )
    return errors


@register()
def check_registry(app_configs=None, **kwargs):
    try:
        declarations = declarations_of(
            settings.CONNECTION_PROVIDERS, getattr(settings, "GENERIC_PROVIDERS", ())
        )
    except (ImportError, ValueError, TypeError) as exc:
        return [
            Error(
                f"The provider registry cannot be loaded: {exc}",
                hint="Check CONNECTION_PROVIDERS and the PROVIDERS_FILE data file.",
                id="connections.E100",
            )
        ]
    return registry_errors(declarations)
