"""Fixed-window rate limits backed by Django's cache (Redis when configured).

A limit is ``(count, window_seconds)``; a key that has used up its count in the current window
is refused until the window ends, and the caller answers 429 with ``Retry-After``.

Counting is one round trip to the cache however many keys a request counts against (and reads
without counting), when the cache can count several keys at once (``incr_counters``, the
project's Redis backend in ``config.cache``); any other cache (the per-process default) is
counted key by key. With that backend the round trip can also be sent first and its answer read
later (``send_all``), so that a caller waits for Redis and its database at the same time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
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
        return self.send_all(limits, window=window, checks=checks)()

    def send_all(
        self,
        limits: Sequence[tuple[str, int]],
        *,
        window: int,
        checks: Sequence[tuple[str, int]] = (),
    ) -> Callable[[], list[Verdict]]:
        """:meth:`hit_all` in two halves, so that its round trip can overlap another wait: the
        count is sent now and the function returned gives the verdicts. That function must be
        called, once, in a ``finally`` (with Redis it holds a connection until then). A cache
        that cannot send first counts now."""
        counted = [key for key, limit in limits if limit > 0]
        looked_at = [key for key, limit in checks if limit > 0]
        if not counted and not looked_at:
            verdicts = [ALLOWED] * (len(limits) + len(checks))
            return lambda: verdicts
        now = self.timer()
        window_start = int(now // window) * window
        answer = self._send_count(
            [f"{self.prefix}:{key}:{window_start}" for key in counted],
            read=[f"{self.prefix}:{key}:{window_start}" for key in looked_at],
            timeout=window + 1,
        )

        def verdicts() -> list[Verdict]:
            counts = answer()
            hits = dict(zip(counted, counts[: len(counted)], strict=True))
            seen = dict(zip(looked_at, counts[len(counted) :], strict=True))
            refused = Verdict(False, max(1, math.ceil(window_start + window - now)))
            return [
                refused if limit > 0 and hits[key] > limit else ALLOWED for key, limit in limits
            ] + [refused if limit > 0 and seen[key] >= limit else ALLOWED for key, limit in checks]

        return verdicts

    def _send_count(
        self, keys: list[str], *, read: list[str], timeout: int
    ) -> Callable[[], list[int]]:
        send_counters = getattr(self.cache, "send_counters", None)
        if send_counters is not None:
            return send_counters(keys, timeout=timeout, read=read)
        incr_counters = getattr(self.cache, "incr_counters", None)
        if incr_counters is not None:
            counts = incr_counters(keys, timeout=timeout, read=read)
        else:
            counts = self._count_each(keys, timeout=timeout) + [
                self.cache.get(k) or 0 for k in read
            ]
        return lambda: counts

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
