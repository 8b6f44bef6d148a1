"""Marks that several test modules share."""

import pytest
from django.conf import settings


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
