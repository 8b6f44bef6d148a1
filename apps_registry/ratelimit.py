"""Fixed-window rate limits backed by Django's cache (Redis when configured).

A limit is ``(count, window_seconds)``; a key that has used up its count in the current window
is refused until the window ends, and the caller answers 429 with ``Retry-After``.

Counting is one round trip to the cache however many keys a request counts against, when the
cache can count several keys at once (``incr_counters``, the project's Redis backend in
``config.cache``); any other cache (the per-process default) is counted key by key.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


ALLOWED = Verdict(True)


class FixedWindowLimiter:
    timer = staticmethod(time.time)  # a test swaps the clock

    def __init__(self, prefix: str = "ratelimit", cache_backend=None):
        self.prefix = prefix
        self.cache = cache_backend or cache

    def hit(self, key: str, *, limit: int, window: int) -> Verdict:
        """Count one request for ``key``; refuse it if the window's count is exceeded.
        ``limit`` 0 means no limit."""
        return self.hit_all(((key, limit),), window=window)[0]

    def hit_all(self, limits: Sequence[tuple[str, int]], *, window: int) -> list[Verdict]:
        """Count one request against each ``(key, limit)`` (one round trip to the cache), and
        each key's verdict in the same order. A limit of 0 counts nothing."""
        counted = [key for key, limit in limits if limit > 0]
        if not counted:
            return [ALLOWED] * len(limits)
        now = self.timer()
        window_start = int(now // window) * window
        keys = [f"{self.prefix}:{key}:{window_start}" for key in counted]
        counts = dict(zip(counted, self._count(keys, timeout=window + 1), strict=True))
        wait = max(1, math.ceil(window_start + window - now))
        return [
            Verdict(False, wait) if limit > 0 and counts[key] > limit else ALLOWED
            for key, limit in limits
        ]

    def _count(self, keys: list[str], *, timeout: int) -> list[int]:
        incr_counters = getattr(self.cache, "incr_counters", None)
        if incr_counters is not None:
            return incr_counters(keys, timeout=timeout)
        counts = []
        for key in keys:
            # add() is atomic (SET NX on Redis); incr() is atomic on Redis and locked in locmem.
            if self.cache.add(key, 1, timeout=timeout):
                counts.append(1)
                continue
            try:
                counts.append(self.cache.incr(key))
            except ValueError:  # expired between add() and incr()
                self.cache.add(key, 1, timeout=timeout)
                counts.append(1)
        return counts

    def check(self, key: str, *, limit: int, window: int) -> Verdict:
        """Whether ``key`` has used up its count in this window, without counting a request."""
        if limit <= 0:
            return ALLOWED
        now = self.timer()
        window_start = int(now // window) * window
        count = self.cache.get(f"{self.prefix}:{key}:{window_start}") or 0
        if count >= limit:
            return Verdict(False, max(1, math.ceil(window_start + window - now)))
        return ALLOWED


# The authorization server's counters (token, revocation, introspection endpoints and the
# validator's per-client count). Without Redis the cache is per process (see the operator guide).
limiter = FixedWindowLimiter(prefix="oauth-rl")
