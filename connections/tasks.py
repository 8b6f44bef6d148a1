"""Celery tasks of the connections layer: thin, the services do the work."""

from __future__ import annotations

from celery import shared_task

from connections.services import connection_refresh_if_due, due_for_refresh_ids


@shared_task(name="connections.tasks.refresh_sweep", ignore_result=True)
def refresh_sweep() -> int:
    """Beat: queue one refresh per connection whose token expires within the margin.

    A connection queued twice (a slow sweep overlapping the next) is still refreshed once: the
    task re-checks under the connection's lock.
    """
    ids = due_for_refresh_ids()
    for connection_id in ids:
        refresh_connection.delay(connection_id)
    return len(ids)


@shared_task(name="connections.tasks.refresh_connection", ignore_result=True)
def refresh_connection(connection_id: int) -> str:
    # Failures are recorded with a backoff (next_refresh_attempt_at); the next sweep retries.
    return connection_refresh_if_due(connection_id=connection_id)
