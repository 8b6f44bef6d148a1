"""What a platform token issued for a grant may carry, and how long it may live: it follows the
grant (``consent.oauth`` asks these when django-oauth-toolkit issues or refreshes a token). Pure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime


def token_lifetime(
    default_seconds: int, *, grant_expires_at: datetime | None, now: datetime
) -> int:
    """Seconds a token issued now may live: never past the grant's expiry (0: do not issue)."""
    if grant_expires_at is None:
        return default_seconds
    remaining = int((grant_expires_at - now).total_seconds())
    return max(0, min(default_seconds, remaining))


def token_scopes(requested: Iterable[str], granted: Iterable[str]) -> list[str]:
    """The scopes a token may carry: what was asked for, cut down to what the grant holds now."""
    granted = set(granted)
    return [s for s in dict.fromkeys(requested) if s in granted]
