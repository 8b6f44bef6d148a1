"""The project's Redis cache backend (config.cache): rate-limit counters in one round trip, and
in two halves (sent, then answered) so that a caller can wait for something else meanwhile.

Against a real Redis: REDIS_URL as CI sets it; skipped without it (the default run has no
Redis)."""

from __future__ import annotations

import uuid

import pytest

from apps_registry.ratelimit import FixedWindowLimiter
from config.cache import RedisCache
from tests.markers import REDIS_URL, needs_redis

pytestmark = needs_redis


@pytest.fixture
def redis_cache():
    backend = RedisCache(REDIS_URL, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})
    yield backend
    backend.clear()


class Commands:
    """Counts the round trips made over a client's pool (each command its connections send)."""

    def __init__(self, client, monkeypatch):
        self.trips = 0
        pool = client.connection_pool
        connection = pool.get_connection()
        pool.release(connection)
        original = type(connection).send_command

        def counted(*args, **kwargs):
            self.trips += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(type(connection), "send_command", counted)


def test_counters_start_at_one_count_up_and_expire(redis_cache):
    assert redis_cache.incr_counters(["a", "b"], timeout=30) == [1, 1]
    assert redis_cache.incr_counters(["a", "c"], timeout=30) == [2, 1]
    # The values are Django's: the cache reads them back, with their expiry set.
    assert redis_cache.get("a") == 2 and redis_cache.get("b") == 1
    client = redis_cache._cache.get_client(None)
    ttl = client.ttl(redis_cache.make_and_validate_key("a"))
    assert 0 < ttl <= 30


def test_a_limiter_over_it_counts_several_keys_in_one_round_trip(redis_cache, monkeypatch):
    limiter = FixedWindowLimiter(prefix="rl", cache_backend=redis_cache)
    limiter.timer = lambda: 1_000_040.5
    redis_cache.incr_counters(["warm"], timeout=5)  # Redis learns the script once
    trips = Commands(redis_cache._cache.get_client(None, write=True), monkeypatch)
    verdicts = limiter.hit_all((("app:1", 2), ("grant:1", 1), ("off", 0)), window=60)
    assert [v.allowed for v in verdicts] == [True, True, True]
    assert trips.trips == 1
    verdicts = limiter.hit_all((("app:1", 2), ("grant:1", 1), ("off", 0)), window=60)
    assert [v.allowed for v in verdicts] == [True, False, True]
    assert verdicts[1].retry_after == 40  # the window [1_000_020, 1_000_080)
    assert trips.trips == 2
    assert limiter.check("app:1", limit=2, window=60).allowed is False  # reads what it counted


def test_counters_are_read_in_the_same_round_trip(redis_cache, monkeypatch):
    redis_cache.incr_counters(["seen", "seen"], timeout=30)
    trips = Commands(redis_cache._cache.get_client(None, write=True), monkeypatch)
    assert redis_cache.incr_counters(["n"], timeout=30, read=["seen", "missing"]) == [1, 2, 0]
    assert redis_cache.incr_counters([], timeout=30, read=["n"]) == [1]
    assert trips.trips == 2
    assert redis_cache.get("missing") is None  # read, not created (a third round trip)
    limiter = FixedWindowLimiter(prefix="rl", cache_backend=redis_cache)
    limiter.hit("failed", limit=9, window=60)
    ip, failed = limiter.hit_all((("ip", 5),), window=60, checks=(("failed", 1),))
    assert ip.allowed and not failed.allowed
    assert trips.trips == 5


def test_counting_survives_redis_forgetting_the_script(redis_cache):
    assert redis_cache.incr_counters(["k"], timeout=30) == [1]
    redis_cache._cache.get_client(None, write=True).script_flush()  # as a Redis restart does
    assert redis_cache.incr_counters(["k"], timeout=30) == [2]


def test_sent_now_answered_later_with_the_client_free_in_between(redis_cache):
    redis_cache.incr_counters(["warm"], timeout=5)
    answer = redis_cache.send_counters(["s"], timeout=30, read=["warm"])
    # The count is on its way on a connection of its own: the client serves others meanwhile.
    assert redis_cache.get("warm") == 1
    redis_cache.set("other", "x")
    assert answer() == [1, 1]
    assert redis_cache.get("s") == 1 and redis_cache.get("other") == "x"
    pool = redis_cache._cache.get_client(None, write=True).connection_pool
    assert pool._in_use_connections == set()  # the connection went back to the pool


def _failing_once(monkeypatch, redis_cache, method: str):
    """The pool's connections fail their next ``method`` as a dead socket does."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    pool = redis_cache._cache.get_client(None, write=True).connection_pool
    connection = pool.get_connection()
    pool.release(connection)
    cls, original, failed = type(connection), getattr(type(connection), method), []

    def once(self, *args, **kwargs):
        if not failed:
            failed.append(self._sock)
            if method == "read_response":
                original(self, *args, **kwargs)  # the script ran; its answer is lost
            raise RedisConnectionError("Connection reset by peer")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, once)
    return pool, failed


def test_a_send_that_fails_is_counted_once_by_the_client(redis_cache, monkeypatch):
    redis_cache.incr_counters(["k"], timeout=30)
    pool, failed = _failing_once(monkeypatch, redis_cache, "send_command")
    assert redis_cache.send_counters(["k"], timeout=30)() == [2]
    assert failed and failed[0].fileno() == -1  # that socket was closed, not reused
    assert redis_cache.get("k") == 2
    assert pool._in_use_connections == set()


def test_a_read_that_fails_is_counted_again_as_the_clients_retry_would(redis_cache, monkeypatch):
    """The script may have run before the answer was lost: like redis-py's own retry, the
    count is sent once more, so a failure can count one call twice, never none."""
    redis_cache.incr_counters(["k"], timeout=30)
    pool, failed = _failing_once(monkeypatch, redis_cache, "read_response")
    assert redis_cache.send_counters(["k"], timeout=30)() == [3]
    assert failed and failed[0].fileno() == -1
    assert pool._in_use_connections == set()


def test_a_sent_count_survives_redis_forgetting_the_script(redis_cache):
    assert redis_cache.incr_counters(["k"], timeout=30) == [1]
    redis_cache._cache.get_client(None, write=True).script_flush()
    assert redis_cache.send_counters(["k"], timeout=30)() == [2]  # not run twice
    assert redis_cache.get("k") == 2


def test_a_reply_that_is_an_error_leaves_no_connection_to_reuse(redis_cache, monkeypatch):
    from redis.exceptions import ResponseError

    redis_cache.set("text", "not a number")
    answer = redis_cache.send_counters(["text"], timeout=30)
    with pytest.raises(ResponseError):
        answer()
    pool = redis_cache._cache.get_client(None, write=True).connection_pool
    assert pool._in_use_connections == set()
    assert redis_cache.incr_counters(["fine"], timeout=30) == [1]


def test_a_limiter_sends_first_and_gives_its_verdicts_after(redis_cache):
    limiter = FixedWindowLimiter(prefix="rl", cache_backend=redis_cache)
    limiter.timer = lambda: 1_000_040.5
    first = limiter.send_all((("app:1", 1),), window=60)
    second = limiter.send_all((("app:1", 1),), window=60)
    assert [v.allowed for v in second()] == [False]
    assert [v.allowed for v in first()] == [True]
