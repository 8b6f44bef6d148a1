"""Celery tasks of the connections layer: thin, the services do the work."""

from __future__ import annotations

from celery import shared_task

from connections.services import connection_refresh_if_due
from connections.sweep import refresh_sweep_run, sweep_parts


@shared_task(name="connections.tasks.refresh_sweep", ignore_result=True)
def refresh_sweep() -> int:
    """Beat: refresh every connection whose token expires within the margin, many at a time
    (``connections.sweep``: thread pools over batches claimed with SKIP LOCKED), spread over
    worker processes: the other parts are queued, this task runs one. Returns how many
    connections this part took."""
    parts, threads = sweep_parts()
    for _ in range(parts - 1):
        refresh_sweep_part.delay(threads)
    return sum(refresh_sweep_run(threads=threads).values())


@shared_task(name="connections.tasks.refresh_sweep_part", ignore_result=True)
def refresh_sweep_part(threads: int) -> int:
    """One more process's share of a sweep (same claims, so parts never take the same row)."""
    return sum(refresh_sweep_run(threads=threads).values())


@shared_task(name="connections.tasks.refresh_connection", ignore_result=True)
def refresh_connection(connection_id: int) -> str:
    # Failures are recorded with a backoff (next_refresh_attempt_at); the next sweep retries.
    return connection_refresh_if_due(connection_id=connection_id)
