"""The per-process cache of a call's token and grant facts (broker.factcache): how many queries a
brokered call makes with and without it, and that every change to what it caches (revocation,
narrowing, suspension, the token's end) is seen on the very next call. Counts, not timings."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from broker import factcache
from tests.broker.conftest import GH_READ, make_world

PATH = "github/repos/octo/hello"


@pytest.fixture
def cached(monkeypatch):
    """The cache on, over the test cache (one process here, so it is shared by definition;
    with REDIS_URL set, as in CI, this is Redis)."""
    monkeypatch.setattr(factcache, "enabled", lambda: True)
    factcache.clear_local()
    yield
    factcache.clear_local()


def queries(world, token) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = world.get(PATH, token=token)
    assert response.status_code == 200, response.content
    return [q["sql"] for q in ctx.captured_queries]


def test_a_call_reads_token_grant_and_connection_at_once_and_the_count_stays_constant(
    world, client, fake, cached
):
    token = world.token()
    queries(world, token)  # learns the version keys (and marks the grant used)
    miss = queries(world, token)  # stores the row under the versions read before the database
    assert any("oauth2_provider_accesstoken" in q for q in miss)
    hit = queries(world, token)
    assert not any("oauth2_provider_accesstoken" in q or "consent_grant" in q for q in hit)
    # A miss reads token, grant and the call's connection in one statement; a hit reads only
    # the connection (the vault's token must be current): the same number of queries.
    (token_read,) = [q for q in miss if "oauth2_provider_accesstoken" in q]
    assert "connections_connection" in token_read
    assert len(hit) == len(miss)

    for _ in range(5):  # more people, grants, selections and audit rows
        make_world(fake, client)
    world.grant.refresh_from_db()
    world.grant.resources = {
        **world.grant.resources,
        GH_READ: [{"id": f"octo/r{i}", "label": ""} for i in range(300)]
        + [{"id": "octo/hello", "label": ""}],
    }
    world.grant.save()  # a change: the next call misses
    assert len(queries(world, token)) == len(miss)
    assert len(queries(world, token)) == len(hit)
    other = world.token()  # a new token: learn, miss, then hit
    queries(world, other)
    assert len(queries(world, other)) == len(miss)
    assert len(queries(world, other)) == len(hit)


def _warm(world, token):
    for _ in range(3):
        assert world.get(PATH, token=token).status_code == 200
    hit = queries(world, token)
    assert not any("consent_grant" in q for q in hit)


def test_revocation_is_refused_on_the_very_next_call_through_the_cache(world, cached):
    from consent.services import grant_revoke

    token = world.token()
    _warm(world, token)
    grant_revoke(grant=world.grant, actor=world.user, reason="test")
    assert world.get(PATH, token=token).status_code in (401, 403)


def test_narrowing_is_seen_on_the_very_next_call_through_the_cache(world, cached):
    from consent.services import grant_narrow

    token = world.token()
    _warm(world, token)
    grant_narrow(grant=world.grant, actor=world.user, remove_resources={GH_READ: ["octo/hello"]})
    assert world.get(PATH, token=token).status_code == 403


def test_suspension_is_seen_on_the_very_next_call_through_the_cache(world, cached):
    from apps_registry.services import app_suspend

    token = world.token()
    _warm(world, token)
    app_suspend(app=world.app, actor=None, reason="abuse")
    assert world.get(PATH, token=token).status_code in (401, 403)


def test_a_deleted_token_is_refused_on_the_very_next_call_through_the_cache(world, cached):
    from oauth2_provider.models import AccessToken

    token = world.token()
    _warm(world, token)
    for row in AccessToken.objects.filter(user=world.user):
        row.delete()  # what DOT's revocation endpoint and refresh rotation do
    assert world.get(PATH, token=token).status_code == 401


def test_a_version_change_in_another_process_is_seen(world, cached):
    """Another process changed the grant: all this process sees is the version key."""
    from django.core.cache import cache

    token = world.token()
    _warm(world, token)
    type(world.grant).objects.filter(pk=world.grant.pk).update(scopes=[])  # no signal here
    assert world.get(PATH, token=token).status_code == 200  # still cached: nothing said so
    cache.set(f"{factcache.PREFIX}grant:{world.grant.pk}", "changed-elsewhere", timeout=None)
    assert world.get(PATH, token=token).status_code == 403
