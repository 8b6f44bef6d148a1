from datetime import timedelta

import pytest
from django.utils import timezone

from connections.models import Connection
from connections.sandbox.models import SandboxTokenRequest
from connections.tasks import refresh_connection, refresh_sweep

pytestmark = pytest.mark.django_db(transaction=True)


def test_sweep_refreshes_each_expiring_connection_once(make_connection, settings):
    settings.CONNECTION_REFRESH_SWEEP_THREADS = 3
    soon = [make_connection() for _ in range(3)]
    for c in soon:
        Connection.objects.filter(pk=c.pk).update(
            token_expires_at=timezone.now() + timedelta(seconds=60)
        )
    later = make_connection()
    revoked = make_connection(expired=True)
    Connection.objects.filter(pk=revoked.pk).update(status="revoked")
    assert refresh_sweep() == 3
    assert SandboxTokenRequest.objects.filter(grant_type="refresh_token").count() == 3
    for c in soon:
        row = Connection.objects.get(pk=c.pk)
        assert row.access_token != c.access_token and row.refresh_lease_id == ""
    assert Connection.objects.get(pk=later.pk).access_token == later.access_token
    # Nothing is due any more; a duplicate delivery of the per-connection task does nothing.
    assert refresh_sweep() == 0
    assert [refresh_connection(c.pk) for c in soon] == ["not_due"] * 3
    assert SandboxTokenRequest.objects.filter(grant_type="refresh_token").count() == 3


def test_overlapping_sweeps_claim_disjoint_batches_and_skip_live_leases(make_connection):
    from connections.sweep import claim_due_batch

    due = [make_connection() for _ in range(4)]
    for c in due:
        Connection.objects.filter(pk=c.pk).update(
            token_expires_at=timezone.now() + timedelta(seconds=60)
        )
    first = [row.pk for row in claim_due_batch(lease_id="sweep-a", limit=2)]
    second = [row.pk for row in claim_due_batch(lease_id="sweep-b", limit=10)]
    assert len(first) == 2 and len(second) == 2 and not set(first) & set(second)
    assert claim_due_batch(lease_id="sweep-c") == []  # every due row is leased
    # The per-connection refresh honours the sweep's lease and refuses anyone else's.
    from connections.refresh import connection_refresh_if_due

    assert connection_refresh_if_due(connection_id=first[0]) == "busy"
    assert connection_refresh_if_due(connection_id=first[0], lease_id="sweep-a") == "refreshed"
    assert Connection.objects.get(pk=first[0]).refresh_lease_id == ""


def _due(make_connection):
    connection = make_connection()
    Connection.objects.filter(pk=connection.pk).update(
        token_expires_at=timezone.now() + timedelta(seconds=60)
    )
    return connection


def _refreshes() -> int:
    return SandboxTokenRequest.objects.filter(grant_type="refresh_token").count()


def test_a_claimed_row_is_refreshed_only_while_the_lease_is_still_the_sweeps(make_connection):
    from connections.refresh import connection_refresh_claimed
    from connections.sweep import claim_due_batch

    connection = _due(make_connection)
    (row,) = claim_due_batch(lease_id="sweep-a")
    # The lease ran out and another refresher took it: the sweep's claim is refused, no call.
    Connection.objects.filter(pk=row.pk).update(
        refresh_lease_id="someone-else",
        refresh_lease_until=timezone.now() + timedelta(seconds=30),
    )
    assert connection_refresh_claimed(connection=row, lease_id="sweep-a") == "busy"
    assert _refreshes() == 0
    # Ran out and nobody took it: still the sweep's, renewed, refreshed once.
    Connection.objects.filter(pk=row.pk).update(
        refresh_lease_id="sweep-a", refresh_lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert connection_refresh_claimed(connection=row, lease_id="sweep-a") == "refreshed"
    stored = Connection.objects.get(pk=row.pk)
    assert _refreshes() == 1 and stored.access_token != connection.access_token
    assert stored.refresh_lease_id == "" and stored.refresh_token != connection.refresh_token


def test_a_connection_refreshed_meanwhile_is_not_refreshed_again_by_the_sweep(make_connection):
    from connections.refresh import connection_refresh_claimed, connection_refresh_if_due
    from connections.sweep import claim_due_batch

    _due(make_connection)
    (row,) = claim_due_batch(lease_id="sweep-a")
    # The sweep's lease ran out before its thread got to the row; a worker refreshed it.
    Connection.objects.filter(pk=row.pk).update(
        refresh_lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert connection_refresh_if_due(connection_id=row.pk) == "refreshed"
    assert connection_refresh_claimed(connection=row, lease_id="sweep-a") == "not_due"
    assert _refreshes() == 1


def test_tokens_answered_after_the_lease_was_lost_are_stored_not_lost(make_connection, monkeypatch):
    """The lease ran out during the provider call and someone took it but stored nothing yet:
    the provider rotated the refresh token, so ours are stored (the old one is dead)."""
    from connections import tokens
    from connections.refresh import connection_refresh_claimed
    from connections.sweep import claim_due_batch

    connection = _due(make_connection)
    (row,) = claim_due_batch(lease_id="sweep-a")
    real_refresh = tokens.refresh

    def slow_refresh(spec, *, refresh_token):
        answered = real_refresh(spec, refresh_token=refresh_token)
        Connection.objects.filter(pk=row.pk).update(refresh_lease_id="someone-else")
        return answered

    monkeypatch.setattr(tokens, "refresh", slow_refresh)
    assert connection_refresh_claimed(connection=row, lease_id="sweep-a") == "refreshed"
    monkeypatch.setattr(tokens, "refresh", real_refresh)
    stored = Connection.objects.get(pk=row.pk)
    assert stored.refresh_token != connection.refresh_token and stored.status == "active"
    # The stored refresh token is the live one: the next refresh works.
    Connection.objects.filter(pk=row.pk).update(token_expires_at=timezone.now())
    assert refresh_connection(row.pk) == "refreshed"
    assert _refreshes() == 2


def test_a_disconnect_during_the_provider_call_wins(make_connection, monkeypatch):
    from connections import tokens
    from connections.refresh import connection_refresh_claimed
    from connections.sweep import claim_due_batch

    _due(make_connection)
    (row,) = claim_due_batch(lease_id="sweep-a")
    real_refresh = tokens.refresh

    def refresh_then_disconnect(spec, *, refresh_token):
        answered = real_refresh(spec, refresh_token=refresh_token)
        Connection.objects.filter(pk=row.pk).update(
            status="revoked", access_token=None, refresh_token=None
        )
        return answered

    monkeypatch.setattr(tokens, "refresh", refresh_then_disconnect)
    assert connection_refresh_claimed(connection=row, lease_id="sweep-a") == "needs_reauth"
    stored = Connection.objects.get(pk=row.pk)
    assert stored.status == "revoked" and stored.refresh_token is None
    assert stored.refresh_lease_id == ""


def test_a_sweep_spreads_over_processes_and_its_parts_refresh_each_connection_once(
    make_connection, settings, monkeypatch
):
    from connections import tasks
    from connections.sweep import sweep_parts

    settings.CONNECTION_REFRESH_SWEEP_PROCESSES = 3
    settings.CONNECTION_REFRESH_SWEEP_THREADS = 16
    from django.db import connection

    # 16 in flight at most, across the three; SQLite (one writer at a time) sweeps in one.
    assert sweep_parts() == ((1, 16) if connection.vendor == "sqlite" else (3, 6))
    due = [make_connection() for _ in range(5)]
    for c in due:
        Connection.objects.filter(pk=c.pk).update(
            token_expires_at=timezone.now() + timedelta(seconds=60)
        )
    queued = []
    # The queued parts, as other worker processes would run them (here: one after the other,
    # before this part, the worst case for sharing: they find the work first).
    monkeypatch.setattr(
        tasks.refresh_sweep_part,
        "delay",
        lambda threads: queued.append(tasks.refresh_sweep_part(threads)),
    )
    ours = refresh_sweep()
    parts = sweep_parts()[0]
    assert len(queued) == parts - 1
    assert ours + sum(queued) == 5
    assert SandboxTokenRequest.objects.filter(grant_type="refresh_token").count() == 5
    for c in due:
        assert Connection.objects.get(pk=c.pk).access_token != c.access_token


def test_beat_schedule_has_the_sweep(settings):
    assert (
        settings.CELERY_BEAT_SCHEDULE["connections-refresh-sweep"]["task"]
        == "connections.tasks.refresh_sweep"
    )
