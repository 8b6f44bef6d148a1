"""No network call inside a database transaction (issue 11): every request the outbound client
sends is checked, for refresh (success and failure), listing, disconnect and a performed write."""

import pytest
from django.db import connection as db

from connections import outbound
from connections.exceptions import ProviderUnavailable
from connections.models import Connection
from connections.resources import list_resources
from connections.sandbox.models import SandboxSwitch
from connections.services import connection_disconnect, get_valid_access_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def calls(monkeypatch):
    """Each outbound request, with whether a transaction was open when it was sent."""
    seen = []
    real = outbound._request

    def checked(method, url, budget, **kw):
        seen.append((method, url, db.in_atomic_block))
        return real(method, url, budget, **kw)

    monkeypatch.setattr(outbound, "_request", checked)
    return seen


def test_refresh_listing_and_disconnect_call_out_of_any_transaction(make_connection, calls):
    connection = make_connection(expired=True)
    get_valid_access_token(connection)  # a refresh
    assert list_resources(Connection.objects.get(pk=connection.pk), "repository")
    row = Connection.objects.get(pk=connection.pk)
    connection_disconnect(connection=row, actor=row.user)
    assert len(calls) >= 3
    assert [c for c in calls if c[2]] == []


def test_a_failing_refresh_calls_out_of_any_transaction(make_connection, calls):
    connection = make_connection(expired=True)
    SandboxSwitch.objects.create(name="token_endpoint_status", value="503")
    with pytest.raises(ProviderUnavailable):
        get_valid_access_token(connection)
    assert calls and [c for c in calls if c[2]] == []
