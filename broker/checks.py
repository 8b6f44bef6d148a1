"""Start-up checks of the broker operations the provider declarations bring
(``connections.providers``), against the scope catalog and the resource kinds."""

from django.core.checks import Error, register

from connections.providers import all_operations, declared, service_declarations
from connections.providers.kinds import KINDS
from consent.catalog import CATALOG


def validate() -> list[str]:
    """Problems in the operation declarations (used by a system check and the tests)."""
    problems = []
    names: set[str] = set()
    routes: set[tuple[str, str]] = set()
    served = {spec.service: spec for spec in service_declarations()}
    for spec in declared():
        if spec.operations and spec.operations != served[spec.service].operations:
            first = served[spec.service].id
            problems.append(
                f"{spec.id}: declares other operations for {spec.service} than {first}, "
                "whose operations the broker serves"
            )
    for spec in served.values():
        for op in spec.operations:
            if op.name in names:
                problems.append(f"duplicate operation name {op.name}")
            names.add(op.name)
            if (op.method, op.route) in routes:
                problems.append(f"duplicate route {op.method} {op.route}")
            routes.add((op.method, op.route))
            scope = CATALOG.get(op.scope)
            if scope is None:
                problems.append(f"{op.name}: unknown scope {op.scope}")
            elif scope.service != op.service:
                problems.append(f"{op.name}: scope {op.scope} is not for {op.service}")
            elif scope.is_write != op.is_write:
                problems.append(f"{op.name}: write flag disagrees with scope {op.scope}")
            if op.service != spec.service:
                problems.append(f"{op.name}: declared by the {spec.service} provider")
    return problems


def operation_errors(operations, catalog, kinds) -> list[Error]:
    """broker.E002 / E003: an operation's scope, and its resource kind, must exist (and agree)."""
    errors = []
    for op in operations:
        scope = catalog.get(op.scope)
        if scope is None:
            errors.append(
                Error(
                    f"Operation {op.name!r} needs the scope {op.scope!r}, which is not in the "
                    "catalog.",
                    hint="Name a scope from consent/catalog.py (or add it there).",
                    obj=op.name,
                    id="broker.E002",
                )
            )
        if op.resource_kind is not None and (
            op.resource_kind not in kinds
            or (scope is not None and scope.resource_kind not in (None, op.resource_kind))
        ):
            errors.append(
                Error(
                    f"Operation {op.name!r} narrows to the resource kind {op.resource_kind!r}, "
                    "which does not exist or is not its scope's.",
                    hint="Use the kind its scope narrows to (connections/providers/kinds.py).",
                    obj=op.name,
                    id="broker.E003",
                )
            )
    return errors


@register()
def check_operations(app_configs, **kwargs):
    """broker.E001: every operation declaration is consistent with the scope catalog."""
    errors = [
        Error(
            problem,
            hint="Fix the provider's operations (connections/providers/, or PROVIDERS_FILE).",
            id="broker.E001",
        )
        for problem in validate()
        if "unknown scope" not in problem  # broker.E002 says it, with its own hint
    ]
    return errors + operation_errors(all_operations().values(), CATALOG, KINDS)
