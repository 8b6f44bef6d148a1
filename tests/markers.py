"""Marks that several test modules share."""

import os

import pytest
from django.conf import settings

REDIS_URL = os.environ.get("REDIS_URL")

# The default run (``make test`` without REDIS_URL) has no Redis and skips these; CI always sets
# REDIS_URL (.ci/run), so there an unreachable Redis fails them rather than skipping them.
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="needs Redis; CI runs this with REDIS_URL")


def postgresql_only(needs: str) -> list:
    """A module's marks for tests of PostgreSQL's own behaviour, in real transactions: skipped on
    the SQLite default (``needs`` says why), run in CI, which sets ``DATABASE_URL``."""
    return [
        pytest.mark.django_db(transaction=True),
        pytest.mark.postgres,
        pytest.mark.skipif(
            "postgresql" not in settings.DATABASES["default"]["ENGINE"],
            reason=f"{needs} need PostgreSQL; CI runs this with DATABASE_URL",
        ),
    ]
