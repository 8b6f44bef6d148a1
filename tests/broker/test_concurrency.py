"""An approved action performed by many workers at once reaches the provider exactly once."""

import threading

import pytest
from django.conf import settings
from django.db import connections

from broker.services import pending_action_perform
from tests.broker.conftest import make_world

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="row locks (select_for_update) need PostgreSQL; CI runs this with DATABASE_URL",
    ),
]

THREADS = 8


def test_concurrent_workers_perform_an_action_once(fake, client):
    from consent.models import PendingAction

    world = make_world(fake, client)
    r = world.post("github/repos/octo/hello/issues", {"title": "Race"})
    action_id = r.json()["pending_action"]["id"]
    PendingAction.objects.filter(pk=action_id).update(status="approved")

    barrier = threading.Barrier(THREADS)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(pending_action_perform(action_id=action_id))
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(fake.issues) == 1
    # The others found it claimed (still "approved") or already done; none performed it again.
    assert len(results) == THREADS and set(results) <= {"approved", "succeeded"}
    assert PendingAction.objects.get(pk=action_id).status == "succeeded"
