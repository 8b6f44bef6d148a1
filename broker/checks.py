from django.core.checks import Error, register

from broker.adapters import OPERATIONS, validate
from connections.providers.kinds import KINDS
from consent.catalog import CATALOG


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
        Error(problem, hint="Fix the declaration in broker/adapters/.", id="broker.E001")
        for problem in validate()
        if "unknown scope" not in problem  # broker.E002 says it, with its own hint
    ]
    return errors + operation_errors(OPERATIONS.values(), CATALOG, KINDS)
