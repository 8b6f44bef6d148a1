"""Many callers, one expired connection: the provider sees exactly one refresh (PostgreSQL).

The cross-process version on SQLite is tests/connections/test_refresh_processes.py."""

from connections.models import Connection
from connections.sandbox.models import SandboxTokenRequest
from connections.services import connection_refresh_if_due, get_valid_access_token
from tests.concurrency import race
from tests.markers import postgresql_only

pytestmark = postgresql_only("row locks (select_for_update)")

THREADS = 50  # issue 11: exactly-once with 50 racers


def _race(target, n=THREADS):
    return race(target, n)


def test_many_callers_one_refresh_everyone_gets_the_new_token(make_connection):
    connection = make_connection(expired=True)
    old = connection.access_token
    results, errors = _race(
        lambda: get_valid_access_token(Connection.objects.get(pk=connection.pk))
    )
    assert errors == []
    assert len(results) == THREADS
    new = Connection.objects.get(pk=connection.pk).access_token
    assert new != old
    assert set(results) == {new}
    assert SandboxTokenRequest.objects.filter(grant_type="refresh_token").count() == 1
    # No lease is left behind.
    assert Connection.objects.get(pk=connection.pk).refresh_lease_id == ""


def test_sweep_workers_and_broker_racing_refresh_once(make_connection):
    connection = make_connection(expired=True)

    def mixed(i=[0]):  # noqa: B006 - a shared counter across the threads
        i[0] += 1
        if i[0] % 2:
            return connection_refresh_if_due(connection_id=connection.pk)
        return get_valid_access_token(Connection.objects.get(pk=connection.pk))

    _, errors = _race(mixed)
    assert errors == []
    assert SandboxTokenRequest.objects.filter(grant_type="refresh_token").count() == 1
    assert Connection.objects.get(pk=connection.pk).status == "active"
