"""Celery tasks of the connections layer: thin, the services do the work."""

from __future__ import annotations

from celery import shared_task

from connections.services import connection_refresh_if_due
from connections.sweep import refresh_sweep_run


@shared_task(name="connections.tasks.refresh_sweep", ignore_result=True)
def refresh_sweep() -> int:
    """Beat: refresh every connection whose token expires within the margin, many at a time
    (``connections.sweep``: a thread pool over batches claimed with SKIP LOCKED). Returns how
    many connections it took."""
    return sum(refresh_sweep_run().values())


@shared_task(name="connections.tasks.refresh_connection", ignore_result=True)
def refresh_connection(connection_id: int) -> str:
    # Failures are recorded with a backoff (next_refresh_attempt_at); the next sweep retries.
    return connection_refresh_if_due(connection_id=connection_id)
