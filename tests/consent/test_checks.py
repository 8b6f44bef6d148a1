"""The catalog's system check: a malformed catalog stops the platform at start-up."""

from dataclasses import replace

import pytest
from django.core import checks

from consent import catalog
from consent.catalog import Access, Flag, Scope
from consent.checks import catalog_errors

READ = catalog.CATALOG["services.github.repositories.read"]


def errors_for(*extra: Scope, drop: tuple[str, ...] = (), declared=()):
    scopes = [s for s in catalog.CATALOG.values() if s.name not in drop] + list(extra)
    return catalog_errors(
        scopes,
        catalog.SERVICES,
        catalog.PROVIDER_SERVICES,
        catalog.RESOURCE_KINDS,
        declared_names=declared,
    )


def ids(errors):
    return sorted({e.id for e in errors})


def test_the_shipped_catalog_is_valid():
    assert errors_for() == []


def test_registered_check_runs_clean_on_the_real_catalog():
    found = [m for m in checks.run_checks() if m.id.startswith("consent.")]
    assert found == []


def test_duplicate_name():
    assert ids(errors_for(READ)) == ["consent.E001"]


@pytest.mark.parametrize("name", ["Services.GitHub", "nodots", "a..b", "", "a.b-c"])
def test_malformed_name(name):
    assert "consent.E002" in ids(errors_for(replace(READ, name=name)))


@pytest.mark.parametrize("sentence", ["", "   "])
def test_scope_without_a_sentence(sentence):
    bad = replace(READ, name="services.github.x.read", sentence=sentence)
    assert ids(errors_for(bad)) == ["consent.E003"]


def test_unknown_service():
    bad = replace(READ, name="services.gitlab.repos.read", service="gitlab")
    assert "consent.E005" in ids(errors_for(bad))


def test_service_scope_without_provider_scopes():
    bad = replace(READ, name="services.github.x.read", provider_scopes={})
    assert ids(errors_for(bad)) == ["consent.E006"]


def test_write_scope_without_resource_kind():
    bad = replace(
        catalog.CATALOG["services.slack.messages.write"],
        name="services.slack.x.write",
        resource_kind=None,
    )
    assert "consent.E007" in ids(errors_for(bad))


def test_service_read_scope_without_resource_kind():
    bad = replace(READ, name="services.github.x.read", resource_kind=None)
    assert ids(errors_for(bad)) == ["consent.E008"]


def test_unknown_resource_kind():
    bad = replace(READ, name="services.github.x.read", resource_kind="galaxy")
    assert ids(errors_for(bad)) == ["consent.E009"]


def test_unknown_provider():
    bad = replace(READ, name="services.github.x.read", provider_scopes={"gitlab": ("api",)})
    assert ids(errors_for(bad)) == ["consent.E010"]


def test_provider_of_another_service():
    bad = replace(READ, name="services.github.x.read", provider_scopes={"slack": ("chat:write",)})
    assert ids(errors_for(bad)) == ["consent.E011"]


def test_empty_provider_scopes():
    bad = replace(READ, name="services.github.x.read", provider_scopes={"github": ()})
    assert ids(errors_for(bad)) == ["consent.E012"]


def test_platform_scope_with_a_service():
    bad = Scope("agents.x.y", "Something", Access.PLATFORM, service="github")
    assert "consent.E013" in ids(errors_for(bad))


def test_flag_carried_twice_or_never():
    twice = Scope("agents.jobs.other", "Other", Access.PLATFORM, flags=frozenset({Flag.BACKGROUND}))
    assert ids(errors_for(twice)) == ["consent.E015"]
    assert ids(errors_for(drop=(catalog.BACKGROUND_SCOPE,))) == ["consent.E015"]


def test_scope_the_platform_relies_on_is_missing():
    errors = errors_for(
        drop=(catalog.UNATTENDED_WRITES_SCOPE,), declared=(catalog.UNATTENDED_WRITES_SCOPE,)
    )
    assert "consent.E016" in ids(errors)


def test_every_error_has_a_message_and_object():
    bad = replace(READ, name="services.github.x.read", sentence="", resource_kind=None)
    for error in errors_for(bad):
        assert error.msg and error.obj and error.level == checks.ERROR
