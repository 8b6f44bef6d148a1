"""The broker's rate limits: per app and per grant, in fixed windows, counted together in one
round trip to the cache (Redis in production) by ``apps_registry.ratelimit``."""

from __future__ import annotations

from django.conf import settings

from apps_registry.ratelimit import FixedWindowLimiter
from broker import exceptions

counter = FixedWindowLimiter(prefix="broker:rl")


def limit_call(*, app_id: int, grant_id: int | None = None) -> None:
    """Count one call for its app and (when it acts for one) its grant; raise RateLimited when
    either has used up its window."""
    limits = [(f"app:{app_id}", settings.BROKER_RATE_LIMIT_PER_APP)]
    if grant_id is not None:
        limits.append((f"grant:{grant_id}", settings.BROKER_RATE_LIMIT_PER_GRANT))
    verdicts = counter.hit_all(limits, window=settings.BROKER_RATE_LIMIT_WINDOW_SECONDS)
    for (key, _limit), verdict in zip(limits, verdicts, strict=True):
        if not verdict.allowed:
            kind = key.split(":", 1)[0]
            raise exceptions.RateLimited(
                f"Too many requests for this {kind}. Retry after {verdict.retry_after} seconds.",
                headers={"Retry-After": str(verdict.retry_after)},
                retry_after=verdict.retry_after,
            )
