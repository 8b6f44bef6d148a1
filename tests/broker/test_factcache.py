"""The per-process cache of a call's token and grant facts (broker.factcache): how many queries a
brokered call makes with and without it, and that every change to what it caches (revocation,
narrowing, suspension, deactivation, the token's end), however it is written, is seen on the
very next call. Counts, not timings; real commits on PostgreSQL (row versions are its own)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from broker import factcache
from broker.ratelimit import counter
from broker.selectors import ROW_VERSIONS, grant_connection_ids
from config.cache import RedisCache
from tests.broker.conftest import GH_READ, make_world
from tests.broker.person import in_a_thread
from tests.markers import REDIS_URL, needs_redis, postgresql_only

PATH = "github/repos/octo/hello"

on_postgresql = postgresql_only("Row versions (xmin)")


@pytest.fixture
def cached(monkeypatch):
    """The cache on (tests/conftest.py turns it off for every other test)."""
    monkeypatch.setattr(factcache, "enabled", factcache_enabled)
    factcache.clear_local()
    yield
    factcache.clear_local()


factcache_enabled = factcache.enabled


@dataclass
class RedisCounters:
    """Each count's send and answer, and each cached call's versions read, in ``events``."""

    events: list[str] = field(default_factory=list)

    def count(self, key: str) -> int:
        """The broker's counter for ``key`` (``app:1``, ``grant:2``) in this window."""
        window = settings.BROKER_RATE_LIMIT_WINDOW_SECONDS
        start = int(counter.timer() // window) * window
        return counter.cache.get(f"{counter.prefix}:{key}:{start}") or 0


@pytest.fixture
def redis_counters(settings, monkeypatch):
    """The broker's rate limits counted in Redis (the project's backend, as in production),
    recorded (:class:`RedisCounters`). Tests using it are marked ``needs_redis``."""
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    recorded = RedisCounters()
    real_send = RedisCache.send_counters

    def send(self, *args, **kwargs):
        recorded.events.append("count sent")
        answer = real_send(self, *args, **kwargs)

        def answered():
            recorded.events.append("count answered")
            return answer()

        return answered

    monkeypatch.setattr(RedisCache, "send_counters", send)
    real_versions = factcache.versions_with_connection

    def versions(*args, **kwargs):
        recorded.events.append("versions read")
        return real_versions(*args, **kwargs)

    monkeypatch.setattr(factcache, "versions_with_connection", versions)
    yield recorded
    counter.cache.clear()


def queries(world, token, status=200) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = world.get(PATH, token=token)
    assert response.status_code == status, response.content
    return [q["sql"] for q in ctx.captured_queries]


def token_statement(sql: str) -> bool:
    return "token_checksum" in sql


def warm(world, token) -> None:
    """The token's first call marks the grant used (a write to its row, so the next call reads
    it again); after the second, its facts are kept."""
    queries(world, token)
    queries(world, token)


@on_postgresql[0]
@on_postgresql[1]
@on_postgresql[2]
class TestWithTheCache:
    def test_a_call_reads_its_facts_once_and_then_only_their_versions(self, world, cached):
        token = world.token()
        warm(world, token)
        factcache.clear_local()
        miss = queries(world, token)
        # A miss reads token, grant, their versions and the call's connection in one statement.
        (read,) = [q for q in miss if token_statement(q)]
        assert "connections_connection" in read and ROW_VERSIONS in read
        hit = queries(world, token)
        assert not any(token_statement(q) for q in hit)
        # A hit reads the versions and the connection (the vault's token must be current):
        (versions,) = [q for q in hit if ROW_VERSIONS in q]
        assert "connections_connection" in versions
        assert len(hit) == len(miss)

    def test_the_count_stays_constant_as_grants_selections_and_audit_rows_grow(
        self, world, client, fake, cached
    ):
        token = world.token()
        warm(world, token)
        factcache.clear_local()
        miss, hit = len(queries(world, token)), len(queries(world, token))
        for _ in range(5):  # more people, grants, selections and audit rows
            make_world(fake, client)
        world.grant.refresh_from_db()
        world.grant.resources = {
            **world.grant.resources,
            GH_READ: [{"id": f"octo/r{i}", "label": ""} for i in range(300)]
            + [{"id": "octo/hello", "label": ""}],
        }
        world.grant.save()
        factcache.clear_local()
        assert len(queries(world, token)) == miss
        assert len(queries(world, token)) == hit
        other = world.token()  # the grant was marked used a moment ago
        assert len(queries(world, other)) == miss
        assert len(queries(world, other)) == hit

    def test_the_call_after_a_change_reads_the_facts_again(self, world, cached):
        token = world.token()
        warm(world, token)
        type(world.grant).objects.filter(pk=world.grant.pk).update(last_used_at=timezone.now())
        after = queries(world, token)
        assert any(token_statement(q) for q in after)  # the versions differed: read again
        assert not any(token_statement(q) for q in queries(world, token))

    def test_revocation_is_refused_on_the_very_next_call(self, world, cached):
        from consent.services import grant_revoke

        token = world.token()
        warm(world, token)
        grant_revoke(grant=world.grant, actor=world.user, reason="test")
        assert world.get(PATH, token=token).status_code in (401, 403)

    def test_narrowing_is_seen_on_the_very_next_call(self, world, cached):
        from consent.services import grant_narrow

        token = world.token()
        warm(world, token)
        grant_narrow(
            grant=world.grant, actor=world.user, remove_resources={GH_READ: ["octo/hello"]}
        )
        assert world.get(PATH, token=token).status_code == 403

    def test_suspension_is_seen_on_the_very_next_call(self, world, cached):
        from apps_registry.services import app_suspend

        token = world.token()
        warm(world, token)
        app_suspend(app=world.app, actor=None, reason="abuse")
        assert world.get(PATH, token=token).status_code in (401, 403)

    def test_a_deleted_token_is_refused_on_the_very_next_call(self, world, cached):
        from oauth2_provider.models import AccessToken

        token = world.token()
        warm(world, token)
        for row in AccessToken.objects.filter(user=world.user):
            row.delete()  # what DOT's revocation endpoint and refresh rotation do
        assert world.get(PATH, token=token).status_code == 401

    @pytest.mark.parametrize(
        "change",
        [
            pytest.param(lambda w: {"grant": {"scopes": []}}, id="grant-scopes"),
            pytest.param(lambda w: {"grant": {"revoked_at": timezone.now()}}, id="grant-revoked"),
            pytest.param(lambda w: {"app": {"suspended_at": timezone.now()}}, id="app-suspended"),
            pytest.param(lambda w: {"user": {"is_active": False}}, id="person-deactivated"),
            pytest.param(
                lambda w: {"token": {"expires": timezone.now()}}, id="token-expired-early"
            ),
        ],
    )
    def test_a_change_written_without_any_service_or_signal_is_seen(self, world, cached, change):
        """A bulk ``QuerySet.update`` (the admin's actions, a shell, a data migration) sends no
        signal: the row's new version is all there is to see, and it is enough."""
        from django.contrib.auth import get_user_model
        from oauth2_provider.models import AccessToken

        token = world.token()
        warm(world, token)
        ((what, values),) = change(world).items()
        rows = {
            "grant": type(world.grant).objects.filter(pk=world.grant.pk),
            "app": type(world.app).objects.filter(pk=world.app.pk),
            "user": get_user_model().objects.filter(pk=world.user.pk),
            "token": AccessToken.objects.filter(user=world.user),
        }[what]
        assert rows.update(**values)
        assert world.get(PATH, token=token).status_code in (401, 403)

    def test_a_grant_made_after_a_refused_call_is_seen(self, world, cached):
        token = world.token()
        grant = world.grant
        values = {f.name: getattr(grant, f.name) for f in grant._meta.concrete_fields}
        type(grant).objects.filter(pk=grant.pk).delete()
        queries(world, token, status=403)  # no grant: refused, and not kept
        values.pop("id")
        type(grant).objects.create(**values)
        queries(world, token)

    @needs_redis
    def test_a_cached_calls_rate_limit_is_counted_while_its_facts_are_checked(
        self, world, cached, redis_counters
    ):
        """The count is sent before the versions are read and its answer read after, so the
        two waits overlap; on a miss, or with no facts kept, it is counted after the token as
        before. Either way each call is counted once."""
        events = redis_counters.events
        token = world.token()
        warm(world, token)
        events.clear()
        queries(world, token)
        assert events == ["count sent", "versions read", "count answered"]
        events.clear()
        factcache.clear_local()
        queries(world, token)
        assert events == ["count sent", "count answered"]  # a miss: the token, then the count
        assert redis_counters.count(f"grant:{world.grant.pk}") == 4

    @needs_redis
    def test_a_cached_call_over_its_limit_is_refused_and_counted_once(
        self, world, cached, redis_counters, settings
    ):
        settings.BROKER_RATE_LIMIT_PER_GRANT = 4
        token = world.token()
        warm(world, token)
        queries(world, token)
        queries(world, token)
        response = world.get(PATH, token=token)
        assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limited"
        assert redis_counters.count(f"grant:{world.grant.pk}") == 5

    @needs_redis
    def test_an_ended_token_over_its_limit_is_told_its_token_is_invalid(
        self, world, cached, redis_counters, settings
    ):
        """The count sent early does not change which refusal a call gets: the token is
        checked before the rate limit is enforced, as without the cache."""
        from oauth2_provider.models import AccessToken

        settings.BROKER_RATE_LIMIT_PER_GRANT = 2
        token = world.token()
        warm(world, token)
        AccessToken.objects.filter(user=world.user).update(expires=timezone.now())
        response = world.get(PATH, token=token)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"

    def test_an_mcp_tool_call_reads_what_the_rest_call_reads(self, world, cached):
        """Its one tool's connection comes with the token, as a REST call's does."""
        import json

        from tests.broker.test_mcp import bind

        token = world.token()
        bind(token, "http://testserver/mcp")
        body = json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
             "params": {"name": "github.repos.get",
                        "arguments": {"owner": "octo", "repo": "hello"}}}
        )  # fmt: skip

        def mcp_queries() -> list[str]:
            with CaptureQueriesContext(connection) as ctx:
                response = world.client.post(
                    "/mcp", body, content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {token}",
                    HTTP_ACCEPT="application/json, text/event-stream",
                )  # fmt: skip
            assert response.status_code == 200 and '"isError":false' in response.content.decode()
            return [q["sql"] for q in ctx.captured_queries]

        mcp_queries()
        mcp_queries()  # warm: the first marked the grant used
        rest = world.token()  # a REST token of the same grant, warm too
        warm(world, rest)
        assert len(mcp_queries()) == len(queries(world, rest))
        factcache.clear_local()
        (read,) = [q for q in mcp_queries() if token_statement(q)]
        assert "connections_connection" in read

    @needs_redis
    def test_an_mcp_tool_call_is_counted_while_its_token_is_checked_and_a_list_is_not(
        self, world, cached, redis_counters
    ):
        import json

        from tests.broker.test_mcp import bind

        events = redis_counters.events
        token = world.token()
        bind(token, "http://testserver/mcp")

        def mcp(method, params):
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
            response = world.client.post(
                "/mcp", body, content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {token}",
                HTTP_ACCEPT="application/json, text/event-stream",
            )  # fmt: skip
            assert response.status_code == 200, response.content

        call = {"name": "github.repos.get", "arguments": {"owner": "octo", "repo": "hello"}}
        mcp("tools/call", call)
        mcp("tools/call", call)  # warm: the first marked the grant used
        events.clear()
        mcp("tools/call", call)
        assert events == ["count sent", "versions read", "count answered"]
        events.clear()
        in_a_thread(mcp, "tools/list", {})  # the SDK answers it
        assert events == ["versions read"]  # listing tools is not a call: nothing counted
        assert redis_counters.count(f"grant:{world.grant.pk}") == 3

    def test_inside_a_transaction_the_cache_is_not_used(self, world, cached):
        """A transaction's own writes to a row all carry its xmin: a row it read between two of
        them must not pass for current."""
        token = world.token()
        warm(world, token)
        grants = type(world.grant).objects.filter(pk=world.grant.pk)
        with transaction.atomic():
            grants.update(declined_scopes=["agents.jobs.background"])
            queries(world, token)  # still allowed
            grants.update(revoked_at=timezone.now())  # the same transaction: the same xmin
            assert world.get(PATH, token=token).status_code in (401, 403)
            transaction.set_rollback(True)


@on_postgresql[0]
@on_postgresql[1]
@on_postgresql[2]
class TestTheRowVersionsFunction:
    def test_it_reads_the_models_own_tables_in_its_arguments_order(self, db):
        from django.contrib.auth import get_user_model
        from oauth2_provider.models import get_access_token_model

        from apps_registry.models import App
        from consent.models import Grant

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_get_functiondef(%s::regprocedure)",
                [f"{ROW_VERSIONS}(bigint, bigint, bigint, bigint)"],
            )
            (source,) = cursor.fetchone()
        models = (get_access_token_model(), App, get_user_model(), Grant)  # t, a, u, g
        reads = [
            source.index(f"FROM {m._meta.db_table} r WHERE r.{m._meta.pk.column} = p_")
            for m in models
        ]
        assert reads == sorted(reads)

    def test_a_write_changes_its_rows_version_and_a_missing_row_reads_as_a_dash(self, world):
        from broker.selectors import versions_with_connection

        ids = (0, world.app.pk, world.user.pk, world.grant.pk)
        before, _ = versions_with_connection(ids, None)
        token, app, user, grant = before.split(",")
        assert token == "-" and "-" not in (app, user, grant)
        type(world.app).objects.filter(pk=world.app.pk).update(name="Renamed")
        after, connection_read = versions_with_connection(ids, world.connections["github"].pk)
        assert after.split(",")[1] != app and after.split(",")[2:] == [user, grant]
        assert connection_read.pk == world.connections["github"].pk


def test_the_connection_a_grant_names_is_read_as_the_statement_does(db):
    """The cached path finds the call's connection in the grant's ``connections`` the way the
    token statement's SQL does (a number of up to 18 digits, or a string of them)."""
    from broker.selectors import _layout

    layout = _layout("default")
    (grant_part,) = [part for part in layout if part[0] == "g"]
    _alias, start, end, _pk_at, columns = grant_part
    names = columns.attnames
    width = max(part[2] for part in layout)

    def row_with(connections):
        row = [None] * width
        row[start:end] = ["x"] * (end - start)
        row[start + names.index("connections")] = connections
        return tuple(row)

    named = {"github": 12, "slack": "34", "google": True, "x": "1e3", "y": "9" * 19, "z": None}
    assert grant_connection_ids(row_with(named)) == {"github": 12, "slack": 34}
    assert grant_connection_ids(row_with('{"github": 5}')) == {"github": 5}  # JSON as text
    assert grant_connection_ids(row_with([1, 2])) == {}
    no_grant = [None] * width
    assert grant_connection_ids(tuple(no_grant)) == {}
