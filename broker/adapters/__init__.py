"""The provider adapters, registered explicitly (no discovery by import)."""

from broker.adapters.base import Adapter, Operation
from broker.adapters.generic import GenericAdapter
from broker.adapters.github import GitHubAdapter
from broker.adapters.google import GoogleDriveAdapter
from broker.adapters.slack import SlackAdapter
from connections.providers import declared
from consent.catalog import CATALOG

BUILTIN: tuple[Adapter, ...] = (GitHubAdapter(), SlackAdapter(), GoogleDriveAdapter())
# Data-declared providers (PROVIDERS_FILE) bring their operations as data.
ADAPTERS: tuple[Adapter, ...] = BUILTIN + tuple(
    GenericAdapter(spec) for spec in declared() if spec.generic and spec.operations
)

OPERATIONS: dict[str, Operation] = {
    op.name: op for adapter in ADAPTERS for op in adapter.operations
}
ADAPTER_BY_SERVICE: dict[str, Adapter] = {adapter.service: adapter for adapter in ADAPTERS}


def validate() -> list[str]:
    """Problems in the declarations (used by a system check and the tests)."""
    problems = []
    names: set[str] = set()
    routes: set[tuple[str, str]] = set()
    for adapter in ADAPTERS:
        for op in adapter.operations:
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
            if op.service != adapter.service:
                problems.append(f"{op.name}: declared in the {adapter.service} adapter")
    return problems
