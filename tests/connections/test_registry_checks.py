"""Start-up checks that cross-validate the provider registry, the catalog and the operations:
each problem has its own id and hint, and the real registry has none of them."""

import dataclasses

from django.core.management import call_command

from broker.checks import operation_errors
from connections.checks import registry_errors
from connections.providers import GITHUB, SLACK, all_operations, declared
from connections.providers.base import Listing
from connections.providers.kinds import KINDS
from consent.catalog import CATALOG
from consent.checks import registry_errors as catalog_registry_errors

OPERATIONS = all_operations()


def ids(errors):
    return [e.id for e in errors]


def test_the_real_registry_passes_every_check():
    assert registry_errors(declared()) == []
    assert catalog_registry_errors(CATALOG.values(), declared()) == []
    assert operation_errors(OPERATIONS.values(), CATALOG, KINDS) == []
    call_command("check")


def test_a_duplicate_provider():
    errors = registry_errors([GITHUB, SLACK, GITHUB])
    assert ids(errors) == ["connections.E101"] and "declared 2 times" in errors[0].msg
    assert errors[0].hint


def test_a_listing_of_an_unknown_kind():
    odd = dataclasses.replace(SLACK, listings=(Listing("planet", "/planets"),))
    assert ids(registry_errors([odd])) == ["connections.E102"]


def test_a_scope_whose_resource_kind_no_provider_lists():
    without_orgs = dataclasses.replace(GITHUB, listings=GITHUB.listings[:1])
    others = [p for p in declared() if p.service != "github"]
    errors = catalog_registry_errors(CATALOG.values(), [without_orgs, *others])
    assert ids(errors) == ["consent.E020"]
    assert "services.github.organisations.read" in errors[0].msg and errors[0].hint


def test_a_provider_mapping_a_scope_that_is_not_in_the_catalog():
    odd = dataclasses.replace(SLACK, scopes={**SLACK.scopes, "services.slack.nothing": ("x",)})
    errors = catalog_registry_errors(CATALOG.values(), [*declared(), odd])
    assert ids(errors) == ["consent.E021"]


def test_a_catalog_scope_with_no_provider_mapping():
    from consent.checks import catalog_errors

    scope = dataclasses.replace(CATALOG["services.slack.channels.read"], provider_scopes={})
    errors = catalog_errors(
        [scope], {"slack": None}, {"slack": "slack"}, {"channel": ("channel", "channels")}
    )
    assert "consent.E006" in ids(errors)
    assert "provider" in next(e for e in errors if e.id == "consent.E006").hint


def test_an_operation_whose_scope_or_kind_does_not_exist():
    op = OPERATIONS["github.repos.get"]
    errors = operation_errors([dataclasses.replace(op, scope="services.none")], CATALOG, KINDS)
    assert ids(errors) == ["broker.E002"]
    errors = operation_errors([dataclasses.replace(op, resource_kind="planet")], CATALOG, KINDS)
    assert ids(errors) == ["broker.E003"]
    errors = operation_errors([dataclasses.replace(op, resource_kind="channel")], CATALOG, KINDS)
    assert ids(errors) == ["broker.E003"]
