from unittest import mock

from django.db import OperationalError
from django.utils import timezone

from identity.models import Heartbeat
from identity.tasks import heartbeat


def test_healthz_reports_each_part(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"] == "ok"
    assert body["checks"]["worker"] == "never-seen"


def test_worker_heartbeat_makes_worker_ok(client, db):
    heartbeat()
    assert client.get("/healthz").json()["checks"]["worker"] == "ok"
    Heartbeat.objects.filter(name="worker").update(
        seen_at=timezone.now() - timezone.timedelta(hours=1)
    )
    assert client.get("/healthz").json()["checks"]["worker"] == "stale"


def test_healthz_is_503_when_the_database_is_down(client, db):
    with mock.patch(
        "django.db.backends.utils.CursorWrapper.execute", side_effect=OperationalError("down")
    ):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "down"
    assert response.json()["status"] == "unavailable"
