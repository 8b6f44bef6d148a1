"""An approved action performed by many workers at once reaches the provider exactly once."""

from broker.services import pending_action_perform
from tests.broker.conftest import make_world
from tests.concurrency import race
from tests.markers import postgresql_only

pytestmark = postgresql_only("row locks (select_for_update)")

THREADS = 8


def test_concurrent_workers_perform_an_action_once(fake, client):
    from consent.models import PendingAction

    world = make_world(fake, client)
    r = world.post("github/repos/octo/hello/issues", {"title": "Race"})
    action_id = r.json()["pending_action"]["id"]
    PendingAction.objects.filter(pk=action_id).update(status="approved")

    results, errors = race(lambda: pending_action_perform(action_id=action_id), THREADS)
    assert not errors
    assert len(fake.issues) == 1
    # The others found it claimed ("performing") or already done; none performed it again.
    assert len(results) == THREADS and set(results) <= {"performing", "succeeded"}
    assert PendingAction.objects.get(pk=action_id).status == "succeeded"
