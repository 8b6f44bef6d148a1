"""Fixed-window rate limits backed by Django's cache (Redis when configured).

A limit is ``(count, window_seconds)``; a key that has used up its count in the current window
is refused until the window ends, and the caller answers 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


class FixedWindowLimiter:
    timer = staticmethod(time.time)  # a test swaps the clock

    def __init__(self, prefix: str = "ratelimit", cache_backend=None):
        self.prefix = prefix
        self.cache = cache_backend or cache

    def hit(self, key: str, *, limit: int, window: int) -> Verdict:
        """Count one request for ``key``; refuse it if the window's count is exceeded.
        ``limit`` 0 means no limit."""
        if limit <= 0:
            return Verdict(True)
        now = self.timer()
        window_start = int(now // window) * window
        cache_key = f"{self.prefix}:{key}:{window_start}"
        # add() is atomic (SET NX on Redis); incr() is atomic on Redis and locked in locmem.
        if self.cache.add(cache_key, 1, timeout=window + 1):
            count = 1
        else:
            try:
                count = self.cache.incr(cache_key)
            except ValueError:  # expired between add() and incr()
                self.cache.add(cache_key, 1, timeout=window + 1)
                count = 1
        if count > limit:
            return Verdict(False, max(1, math.ceil(window_start + window - now)))
        return Verdict(True)

    def check(self, key: str, *, limit: int, window: int) -> Verdict:
        """Whether ``key`` has used up its count in this window, without counting a request."""
        if limit <= 0:
            return Verdict(True)
        now = self.timer()
        window_start = int(now // window) * window
        count = self.cache.get(f"{self.prefix}:{key}:{window_start}") or 0
        if count >= limit:
            return Verdict(False, max(1, math.ceil(window_start + window - now)))
        return Verdict(True)


# The authorization server's counters (token, revocation, introspection endpoints and the
# validator's per-client count). Without Redis the cache is per process (see the operator guide).
limiter = FixedWindowLimiter(prefix="oauth-rl")
