"""System checks: a malformed scope catalog stops the platform at start-up.

:func:`catalog_errors` is a pure function over the catalog's data, so tests feed it broken
catalogs; :func:`check_catalog` is the registered check that runs it on the real one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from django.core.checks import Error, Tags, register

from connections.providers import declared
from consent import catalog as default_catalog
from consent.catalog import Access, Flag, Scope, Service

SCOPE_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def _error(id_: str, msg: str, hint: str, obj: str) -> Error:
    return Error(msg, hint=hint, obj=obj, id=f"consent.{id_}")


def catalog_errors(
    scopes: Iterable[Scope],
    services: Mapping[str, Service],
    provider_services: Mapping[str, str],
    resource_kinds: Iterable[str],
    *,
    declared_names: Iterable[str] | None = None,
) -> list[Error]:
    """Every problem in a catalog, each with a stable id (consent.E001...).

    ``scopes`` is the list of entries as declared (so duplicates are visible);
    ``provider_services`` maps each known provider id to the service it serves.
    """
    scopes = list(scopes)
    kinds = set(resource_kinds)
    errors: list[Error] = []
    seen: set[str] = set()
    for scope in scopes:
        obj = scope.name or "<unnamed scope>"
        if scope.name in seen:
            errors.append(
                _error("E001", f"Scope {scope.name!r} is declared twice.", "Remove one.", obj)
            )
        seen.add(scope.name)
        if not SCOPE_NAME.match(scope.name or ""):
            errors.append(
                _error(
                    "E002",
                    f"Scope name {scope.name!r} is malformed.",
                    "Use lower-case dotted words, e.g. services.github.repositories.read.",
                    obj,
                )
            )
        if not (scope.sentence or "").strip():
            errors.append(
                _error(
                    "E003",
                    f"Scope {scope.name!r} has no sentence for people.",
                    "Say in plain words what the scope allows.",
                    obj,
                )
            )
        if not isinstance(scope.access, Access):
            errors.append(
                _error("E004", f"Scope {scope.name!r} has an unknown access kind.", "", obj)
            )
            continue
        if scope.service is not None and scope.service not in services:
            errors.append(
                _error(
                    "E005",
                    f"Scope {scope.name!r} names the unknown service {scope.service!r}.",
                    f"Known services: {', '.join(sorted(services))}.",
                    obj,
                )
            )
        if scope.access in (Access.READ, Access.WRITE) and scope.service is not None:
            if not scope.provider_scopes:
                errors.append(
                    _error(
                        "E006",
                        f"Scope {scope.name!r} needs no provider scope on any provider.",
                        "No provider declaration maps it: add it to a provider's scopes "
                        "(connections/providers/<provider>.py or the PROVIDERS_FILE entry).",
                        obj,
                    )
                )
            if scope.resource_kind is None:
                errors.append(
                    _error(
                        "E008",
                        f"Service scope {scope.name!r} has no resource kind to narrow to.",
                        "Every service scope narrows to a resource kind (repository, channel...).",
                        obj,
                    )
                )
        if scope.is_write and scope.resource_kind is None:
            errors.append(
                _error(
                    "E007",
                    f"Write scope {scope.name!r} has no resource kind.",
                    "A write must be narrowed to resources the person selects.",
                    obj,
                )
            )
        if scope.resource_kind is not None and scope.resource_kind not in kinds:
            errors.append(
                _error(
                    "E009",
                    f"Scope {scope.name!r} narrows to the unknown kind {scope.resource_kind!r}.",
                    f"Known kinds: {', '.join(sorted(kinds))}.",
                    obj,
                )
            )
        for provider, provider_scopes in scope.provider_scopes.items():
            if provider not in provider_services:
                errors.append(
                    _error(
                        "E010",
                        f"Scope {scope.name!r} names the unknown provider {provider!r}.",
                        f"Known providers: {', '.join(sorted(provider_services))}.",
                        obj,
                    )
                )
            elif provider_services[provider] != scope.service:
                errors.append(
                    _error(
                        "E011",
                        f"Scope {scope.name!r} (service {scope.service!r}) names provider "
                        f"{provider!r}, which serves {provider_services[provider]!r}.",
                        "A scope's providers must serve the scope's service.",
                        obj,
                    )
                )
            if not provider_scopes or not all(
                isinstance(p, str) and p.strip() for p in provider_scopes
            ):
                errors.append(
                    _error(
                        "E012",
                        f"Scope {scope.name!r} lists empty provider scopes for {provider!r}.",
                        "",
                        obj,
                    )
                )
        if scope.access == Access.PLATFORM and (scope.service is not None or scope.provider_scopes):
            errors.append(
                _error(
                    "E013",
                    f"Platform scope {scope.name!r} names a service or provider scopes.",
                    "Platform scopes are about the platform itself.",
                    obj,
                )
            )
        if not all(isinstance(f, Flag) for f in scope.flags):
            errors.append(_error("E014", f"Scope {scope.name!r} has an unknown flag.", "", obj))
    for flag in Flag:
        carriers = [s.name for s in scopes if flag in s.flags]
        if len(carriers) != 1:
            errors.append(
                _error(
                    "E015",
                    f"Exactly one scope must carry the {flag.value!r} flag, found {carriers}.",
                    "The engine and the broker look the flag up by scope.",
                    "consent.catalog",
                )
            )
    for name in declared_names or ():
        if name not in seen:
            errors.append(
                _error(
                    "E016",
                    f"{name!r} is used by the platform but missing from the catalog.",
                    "",
                    "consent.catalog",
                )
            )
    return errors


def registry_errors(catalog, declarations) -> list[Error]:
    """The catalog against the provider declarations: every narrowable scope's resource kind is
    listed by a provider of its service (E020), and providers map only scopes that exist (E021)."""
    errors = []
    scopes = {scope.name: scope for scope in catalog}
    for scope in scopes.values():
        if scope.service is None or scope.resource_kind is None:
            continue
        listers = [
            spec.id
            for spec in declarations
            if spec.service == scope.service and scope.resource_kind in spec.resource_kinds
        ]
        if not listers:
            errors.append(
                _error(
                    "E020",
                    f"Scope {scope.name!r} narrows to {scope.resource_kind!r}, which no "
                    f"{scope.service} provider lists.",
                    "Add a Listing of that kind to the provider's declaration, or narrow the "
                    "scope to a kind it lists (the person could select nothing).",
                    "consent.catalog",
                )
            )
    for spec in declarations:
        for name in spec.scopes:
            if name not in scopes:
                errors.append(
                    _error(
                        "E021",
                        f"Provider {spec.id!r} maps the platform scope {name!r}, which is not "
                        "in the catalog.",
                        "Add the scope to consent/catalog.py (or the data file's "
                        "platform_scopes), or remove the mapping.",
                        f"connections.providers.{spec.id}",
                    )
                )
    return errors


@register(Tags.security)
def check_registry_against_catalog(app_configs=None, **kwargs):
    return registry_errors(default_catalog.CATALOG.values(), declared())


@register(Tags.security)
def check_catalog(app_configs=None, **kwargs):
    return catalog_errors(
        default_catalog.CATALOG.values(),
        default_catalog.SERVICES,
        default_catalog.PROVIDER_SERVICES,
        default_catalog.RESOURCE_KINDS,
        declared_names=(default_catalog.BACKGROUND_SCOPE, default_catalog.UNATTENDED_WRITES_SCOPE),
    )
