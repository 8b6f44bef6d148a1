"""Django's PostgreSQL backend, with a health check that costs no round trip when nothing is wrong.

``CONN_HEALTH_CHECKS`` makes Django check a persistent connection before a request first uses it,
so a database restart does not fail the next request of every thread. Django checks by sending
``SELECT 1`` and waiting for the answer: one round trip per request, on every brokered call and
token request (a few per cent of a brokered call's CPU, and a wait in its latency).

An idle connection has nothing to read. When PostgreSQL ends one (a restart, an administrator's
``pg_terminate_backend``, ``idle_session_timeout``) it sends its error and closes the socket, which
then becomes readable. So an idle connection whose socket has nothing to read, and that psycopg
has not seen broken, is usable, and it is checked without a query; anything else (something to
read, a transaction not idle, no way to poll) falls back to Django's own ``SELECT 1``. What
neither check can see, a peer gone silently, costs the same as before: the first query's timeout.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


def _idle_with_nothing_to_read(connection) -> bool:
    if connection.closed or connection.broken:
        return False
    if connection.info.transaction_status != pq.TransactionStatus.IDLE:
        return False
    poll = getattr(select, "poll", None)
    if poll is None:  # no poll(2) on this platform: ask the server instead
        return False
    try:
        poller = poll()
        poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        if self.connection is not None and _idle_with_nothing_to_read(self.connection):
            return True
        return super().is_usable()
