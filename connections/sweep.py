"""The refresh sweep: every connection whose token expires within the margin, refreshed once,
many at a time.

A refresh is mostly waiting for the provider (a network round trip and its token endpoint), so
one sweep runs ``CONNECTION_REFRESH_SWEEP_THREADS`` refreshes at once in a thread pool instead of
queueing one Celery task per connection (which ran at most ``CELERY_CONCURRENCY`` at a time and
paid a broker round trip each). Work is claimed in batches: one statement locks up to ``BATCH``
due rows with ``FOR UPDATE SKIP LOCKED`` and writes this batch's refresh lease on them
(``connections.refresh``), so two sweeps running at once (a slow one overlapping the next, or two
workers) take disjoint batches and neither waits for the other; a connection someone is already
refreshing (a live lease) is not claimed. Each connection is then refreshed through
:func:`connections.refresh.connection_refresh_claimed` holding that lease, from the row the claim
read (with its person), which keeps every rule of a single refresh: the lease renewed, only if
still ours, right before the provider call, no transaction open during it, exactly once, backoff
on failure, the audit event. A sweeper that dies leaves leases that expire after
``CONNECTION_REFRESH_LEASE_SECONDS``; the next sweep takes those connections again. On SQLite
(the embedded setup, one writer at a time) the sweep refreshes one connection after the other.

A refresh also costs CPU (the claim, the vault's encryption, the stored row, the audit event),
and Python runs one thread at a time per process: one sweep spreads over
``CONNECTION_REFRESH_SWEEP_PROCESSES`` worker processes (:func:`sweep_parts`; the beat's task runs
one part and queues the others), the ``CONNECTION_REFRESH_SWEEP_THREADS`` divided between them.
The parts claim batches like overlapping sweeps do, so they share the work without coordinating.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from connections.models import Connection
from connections.refresh import connection_refresh_claimed

BATCH = 200


def claim_due_batch(*, lease_id: str, limit: int = BATCH, now=None) -> list[Connection]:
    """Lock up to ``limit`` due connections nobody holds (SKIP LOCKED), put ``lease_id`` on
    them, commit; return them, soonest expiry first, as read under the lock with their person
    (what a refresh and its audit event need, so neither reads the row again)."""
    now = now or timezone.now()
    margin = timedelta(seconds=settings.CONNECTION_REFRESH_MARGIN_SECONDS)
    until = now + timedelta(seconds=settings.CONNECTION_REFRESH_LEASE_SECONDS)
    with transaction.atomic():
        rows = list(
            Connection.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("user")
            .defer("access_token")  # replaced, never read: one decryption less per row
            .filter(
                status=Connection.Status.ACTIVE,
                refresh_token__isnull=False,
                token_expires_at__lte=now + margin,
            )
            .filter(Q(next_refresh_attempt_at__isnull=True) | Q(next_refresh_attempt_at__lte=now))
            .filter(Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lte=now))
            .order_by("token_expires_at")[:limit]
        )
        if rows:
            Connection.objects.filter(pk__in=[row.pk for row in rows]).update(
                refresh_lease_id=lease_id, refresh_lease_until=until
            )
    for row in rows:
        row.refresh_lease_id, row.refresh_lease_until = lease_id, until
    return rows


# Per pool thread: the lease of the batch it last worked on.
_thread_batch = threading.local()


def _refresh(row: Connection, lease_id: str) -> str:
    if getattr(_thread_batch, "lease_id", None) != lease_id:
        # Each pool thread has its own database connection: give it back between batches that
        # are far apart (close_old_connections honours CONN_MAX_AGE). Once per batch, not per
        # refresh: with CONN_HEALTH_CHECKS each call costs the next query a health check.
        close_old_connections()
        _thread_batch.lease_id = lease_id
    try:
        return connection_refresh_claimed(connection=row, lease_id=lease_id)
    except BaseException:
        close_old_connections()  # a broken database connection is not kept for the next one
        raise


def _release_unused(rows: list[Connection], lease_id: str) -> None:
    # What was claimed but not refreshed (skipped, not due any more) must not stay leased.
    Connection.objects.filter(pk__in=[row.pk for row in rows], refresh_lease_id=lease_id).update(
        refresh_lease_id="", refresh_lease_until=None
    )


def sweep_parts() -> tuple[int, int]:
    """``(parts, threads per part)`` of one sweep: one part on SQLite (one writer at a time)."""
    threads = max(1, settings.CONNECTION_REFRESH_SWEEP_THREADS)
    parts = 1 if connection.vendor == "sqlite" else settings.CONNECTION_REFRESH_SWEEP_PROCESSES
    parts = max(1, min(parts, threads))
    return parts, math.ceil(threads / parts)


def refresh_sweep_run(*, threads: int | None = None, batch: int = BATCH) -> Counter:
    """Refresh every due connection; return how each one ended (``refreshed``, ``failed``,
    ``needs_reauth``, ``busy``, ``not_due``, ...)."""
    threads = threads or settings.CONNECTION_REFRESH_SWEEP_THREADS
    if connection.vendor == "sqlite":
        # One writer at a time anyway, and an in-memory (test) database locks whole tables
        # without waiting: the embedded setup refreshes one connection after the other.
        threads = 1
    outcomes: Counter = Counter()
    # Each pool thread's own database connection (``connection`` is per thread), closed below
    # once the pool has ended; left alone it would stay open until the garbage collector ran.
    opened: list = []

    def keep_connection():
        opened.append(connections[DEFAULT_DB_ALIAS])
        opened[-1].inc_thread_sharing()  # to be closed from this thread

    with ThreadPoolExecutor(
        max_workers=threads, thread_name_prefix="refresh-sweep", initializer=keep_connection
    ) as pool:
        while True:
            lease_id = uuid.uuid4().hex  # refresh_lease_id holds 32 characters
            rows = claim_due_batch(lease_id=lease_id, limit=batch)
            if not rows:
                break
            try:
                for outcome in pool.map(lambda row, lease=lease_id: _refresh(row, lease), rows):
                    outcomes[outcome] += 1
            finally:
                _release_unused(rows, lease_id)
            if len(rows) < batch:
                break
    for pool_connection in opened:
        pool_connection.close()
    return outcomes
