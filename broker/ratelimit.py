"""The broker's rate limits: per app and per grant, in fixed windows, counted together in one
round trip to the cache (Redis in production) by ``apps_registry.ratelimit``.

A call can send its count before it reads the database and enforce the answer after
(:func:`send_call_count`): ``broker.tokens`` does so for a token whose facts this process
already holds, so that the two waits overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from apps_registry.ratelimit import FixedWindowLimiter, Verdict
from broker import exceptions

counter = FixedWindowLimiter(prefix="broker:rl")


@dataclass(frozen=True, slots=True)
class CallCount:
    """One call counted for its app and (when it acts for one) its grant, with the verdicts."""

    app_id: int
    grant_id: int | None
    verdicts: tuple[tuple[str, Verdict], ...]  # (app or grant, verdict)

    def enforce(self) -> None:
        """Raise RateLimited when the app or the grant has used up its window."""
        for kind, verdict in self.verdicts:
            if not verdict.allowed:
                raise exceptions.RateLimited(
                    f"Too many requests for this {kind}. "
                    f"Retry after {verdict.retry_after} seconds.",
                    headers={"Retry-After": str(verdict.retry_after)},
                    retry_after=verdict.retry_after,
                )


def send_call_count(*, app_id: int, grant_id: int | None = None) -> Callable[[], CallCount]:
    """Count one call for its app and grant: sent now, its answer from the function returned,
    which must be called once, in a ``finally`` (``FixedWindowLimiter.send_all``)."""
    limits = [(f"app:{app_id}", settings.BROKER_RATE_LIMIT_PER_APP)]
    if grant_id is not None:
        limits.append((f"grant:{grant_id}", settings.BROKER_RATE_LIMIT_PER_GRANT))
    answer = counter.send_all(limits, window=settings.BROKER_RATE_LIMIT_WINDOW_SECONDS)

    def count() -> CallCount:
        verdicts = answer()
        kinds = (key.split(":", 1)[0] for key, _limit in limits)
        return CallCount(app_id, grant_id, tuple(zip(kinds, verdicts, strict=True)))

    return count


def limit_call(*, app_id: int, grant_id: int | None = None) -> None:
    """Count one call for its app and (when it acts for one) its grant; raise RateLimited when
    either has used up its window."""
    send_call_count(app_id=app_id, grant_id=grant_id)().enforce()


def enforce_call_count(count: CallCount | None, *, app_id: int, grant_id: int | None) -> None:
    """Enforce ``count`` if it is this call's (sent early, for the app and grant the call turned
    out to act for); otherwise count the call now."""
    if count is not None and (count.app_id, count.grant_id) == (app_id, grant_id):
        count.enforce()
    else:
        limit_call(app_id=app_id, grant_id=grant_id)
