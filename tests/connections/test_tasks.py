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
    first = claim_due_batch(lease_id="sweep-a", limit=2)
    second = claim_due_batch(lease_id="sweep-b", limit=10)
    assert len(first) == 2 and len(second) == 2 and not set(first) & set(second)
    assert claim_due_batch(lease_id="sweep-c") == []  # every due row is leased
    # The per-connection refresh honours the sweep's lease and refuses anyone else's.
    from connections.refresh import connection_refresh_if_due

    assert connection_refresh_if_due(connection_id=first[0]) == "busy"
    assert connection_refresh_if_due(connection_id=first[0], lease_id="sweep-a") == "refreshed"
    assert Connection.objects.get(pk=first[0]).refresh_lease_id == ""


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
