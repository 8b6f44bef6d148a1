"""The project's Redis cache backend (config.cache): rate-limit counters in one round trip.

Against a real Redis: REDIS_URL as CI sets it; skipped without it (the default run has no
Redis)."""

from __future__ import annotations

import os
import uuid

import pytest

from apps_registry.ratelimit import FixedWindowLimiter
from config.cache import RedisCache

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs Redis; CI runs this with REDIS_URL"
)


@pytest.fixture
def redis_cache():
    backend = RedisCache(os.environ["REDIS_URL"], {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})
    yield backend
    backend.clear()


class Commands:
    """Counts the round trips a client makes (each command it sends)."""

    def __init__(self, client, monkeypatch):
        self.trips = 0
        original = type(client).execute_command

        def counted(*args, **kwargs):
            self.trips += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(type(client), "execute_command", counted)


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
