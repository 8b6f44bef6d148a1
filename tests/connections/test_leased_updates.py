"""The refresh path's conditional updates (connections.leased_updates): what QuerySet.update did."""

from datetime import timedelta

import pytest
from django.db import connection as db
from django.utils import timezone

from connections.leased_updates import update_if_leased
from connections.models import Connection
from tests.factories import ConnectionFactory

LEASE = "lease-ours"


@pytest.fixture
def leased():
    return ConnectionFactory(refresh_lease_id=LEASE, refresh_lease_until=timezone.now())


@pytest.mark.django_db
def test_our_lease_sets_the_columns_through_their_fields(leased):
    now = timezone.now()
    changes = {
        "access_token": "new-access",
        "refresh_token": "new-refresh",
        "token_expires_at": now + timedelta(hours=1),
        "scopes": ["repo", "read:user"],
        "refresh_lease_id": "",
        "refresh_lease_until": None,
        "last_refreshed_at": now,
    }
    assert update_if_leased(leased.pk, LEASE, changes) is True
    stored = Connection.objects.get(pk=leased.pk)
    assert stored.access_token == "new-access"  # read back through the vault
    assert stored.refresh_token == "new-refresh"
    assert stored.token_expires_at == changes["token_expires_at"]
    assert stored.scopes == ["repo", "read:user"]
    assert (stored.refresh_lease_id, stored.refresh_lease_until) == ("", None)
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT access_token FROM {Connection._meta.db_table} WHERE id = %s",
            [leased.pk],
        )
        (raw,) = cursor.fetchone()
    assert "new-access" not in str(raw), "encrypted at rest, as the ORM stores it"


@pytest.mark.django_db
@pytest.mark.parametrize("whose", ["someone else's lease", "disconnected"])
def test_anything_else_changes_nothing(leased, whose):
    if whose == "disconnected":
        Connection.objects.filter(pk=leased.pk).update(status=Connection.Status.REVOKED)
        lease = LEASE
    else:
        lease = "lease-theirs"
    before = Connection.objects.get(pk=leased.pk)
    assert update_if_leased(leased.pk, lease, {"access_token": "new-access"}) is False
    after = Connection.objects.get(pk=leased.pk)
    assert after.access_token == before.access_token
