"""Fixed-window rate limits backed by Django's cache (Redis when configured).

A limit is ``(count, window_seconds)``; a key that has used up its count in the current window
is refused until the window ends, and the caller answers 429 with ``Retry-After``.

Counting is one round trip to the cache however many keys a request counts against (and reads
without counting), when the cache can count several keys at once (``incr_counters``, the
project's Redis backend in ``config.cache``); any other cache (the per-process default) is
counted key by key.
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

    def hit_all(
        self,
        limits: Sequence[tuple[str, int]],
        *,
        window: int,
        checks: Sequence[tuple[str, int]] = (),
    ) -> list[Verdict]:
        """Count one request against each ``(key, limit)`` of ``limits``, and look at each of
        ``checks`` without counting (as :meth:`check`), in one round trip to the cache: the
        verdicts of ``limits`` then of ``checks``, in their order. A limit of 0 counts, and
        refuses, nothing."""
        counted = [key for key, limit in limits if limit > 0]
        looked_at = [key for key, limit in checks if limit > 0]
        if not counted and not looked_at:
            return [ALLOWED] * (len(limits) + len(checks))
        now = self.timer()
        window_start = int(now // window) * window
        counts = self._count(
            [f"{self.prefix}:{key}:{window_start}" for key in counted],
            read=[f"{self.prefix}:{key}:{window_start}" for key in looked_at],
            timeout=window + 1,
        )
        hits = dict(zip(counted, counts[: len(counted)], strict=True))
        seen = dict(zip(looked_at, counts[len(counted) :], strict=True))
        wait = max(1, math.ceil(window_start + window - now))
        refused = Verdict(False, wait)
        return [
            refused if limit > 0 and hits[key] > limit else ALLOWED for key, limit in limits
        ] + [refused if limit > 0 and seen[key] >= limit else ALLOWED for key, limit in checks]

    def _count(self, keys: list[str], *, read: list[str], timeout: int) -> list[int]:
        incr_counters = getattr(self.cache, "incr_counters", None)
        if incr_counters is not None:
            return incr_counters(keys, timeout=timeout, read=read)
        return self._count_each(keys, timeout=timeout) + [self.cache.get(k) or 0 for k in read]

    def _count_each(self, keys: list[str], *, timeout: int) -> list[int]:
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
        return self.hit_all((), window=window, checks=((key, limit),))[0]


# The authorization server's counters (token, revocation, introspection endpoints and the
# validator's per-client count). Without Redis the cache is per process (see the operator guide).
limiter = FixedWindowLimiter(prefix="oauth-rl")
