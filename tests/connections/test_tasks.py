from datetime import timedelta

import pytest
from django.utils import timezone

from connections.models import Connection
from connections.sandbox.models import SandboxTokenRequest
from connections.tasks import refresh_connection, refresh_sweep

pytestmark = pytest.mark.django_db(transaction=True)


def test_sweep_refreshes_each_expiring_connection_once(make_connection, settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    soon = [make_connection() for _ in range(3)]
    for c in soon:
        Connection.objects.filter(pk=c.pk).update(
            token_expires_at=timezone.now() + timedelta(seconds=60)
        )
    later = make_connection()
    revoked = make_connection(expired=True)
    Connection.objects.filter(pk=revoked.pk).update(status="revoked")
    queued = []
    monkeypatch.setattr(refresh_connection, "delay", lambda pk: queued.append(pk))
    assert refresh_sweep() == 3
    assert sorted(queued) == sorted(c.pk for c in soon)
    assert later.pk not in queued and revoked.pk not in queued
    results = [refresh_connection(pk) for pk in queued]
    # A duplicate delivery (overlapping sweeps) does not refresh again.
    results += [refresh_connection(pk) for pk in queued]
    assert results == ["refreshed"] * 3 + ["not_due"] * 3
    assert SandboxTokenRequest.objects.filter(grant_type="refresh_token").count() == 3
    assert refresh_sweep() == 0


def test_beat_schedule_has_the_sweep(settings):
    assert (
        settings.CELERY_BEAT_SCHEDULE["connections-refresh-sweep"]["task"]
        == "connections.tasks.refresh_sweep"
    )
