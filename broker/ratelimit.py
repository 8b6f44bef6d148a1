"""Fixed-window rate limits per app and per grant, counted in the cache (Redis in production)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

from broker import exceptions


class RateLimiter:
    timer = time.time  # a class attribute, so tests can swap the clock

    def __init__(self, *, window_seconds: int, limits: dict[str, int]):
        self.window = window_seconds
        self.limits = limits

    def hit(self, kind: str, key: object) -> None:
        """Count one call for (kind, key); raise RateLimited once the window's limit is passed."""
        limit = self.limits.get(kind)
        if not limit:
            return
        now = self.timer()
        window = int(now // self.window)
        cache_key = f"broker:rl:{kind}:{key}:{window}"
        if cache.add(cache_key, 1, timeout=self.window * 2):
            count = 1
        else:
            try:
                count = cache.incr(cache_key)
            except ValueError:  # expired between add and incr
                cache.set(cache_key, 1, timeout=self.window * 2)
                count = 1
        if count > limit:
            wait = max(1, int((window + 1) * self.window - now) + 1)
            raise exceptions.RateLimited(
                f"Too many requests for this {kind}. Retry after {wait} seconds.",
                headers={"Retry-After": str(wait)},
                retry_after=wait,
            )


def limiter() -> RateLimiter:
    return RateLimiter(
        window_seconds=settings.BROKER_RATE_LIMIT_WINDOW_SECONDS,
        limits={
            "app": settings.BROKER_RATE_LIMIT_PER_APP,
            "grant": settings.BROKER_RATE_LIMIT_PER_GRANT,
        },
    )
