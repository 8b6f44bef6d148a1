"""The refresh sweep leaves no database session behind: each pool thread's connection is closed
when the sweep ends. Left open, it would outlive the sweep until the garbage collector ran, and in
a worker sessions would pile up sweep after sweep."""

from datetime import timedelta

from django.utils import timezone

from connections.models import Connection
from connections.tasks import refresh_sweep
from tests.concurrency import other_database_sessions
from tests.markers import postgresql_only

pytestmark = postgresql_only("the sessions the sweep's threads open (SQLite sweeps in one thread)")


def test_the_sweep_closes_its_threads_database_connections(make_connection, settings):
    settings.CONNECTION_REFRESH_SWEEP_THREADS = 3
    for c in [make_connection() for _ in range(3)]:
        Connection.objects.filter(pk=c.pk).update(
            token_expires_at=timezone.now() + timedelta(seconds=60)
        )
    # Sessions other tests left for the garbage collector are not the sweep's.
    before = frozenset(pid for pid, *_ in other_database_sessions(wait=0))
    assert refresh_sweep() == 3
    assert other_database_sessions(besides=before) == []
