"""Django's PostgreSQL backend: a health check that costs no round trip when nothing is wrong, and
timestamps read by psycopg's compiled loader.

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

Timestamps are read with psycopg's own loader (compiled, in psycopg's binary package) instead of
Django's, a Python subclass of psycopg's pure-Python one that parses every ``timestamptz`` in
Python and then sets the connection's time zone: about 7 µs a value against 0.5, and a token
grant reads some thirty of them. Django keeps the session's ``TimeZone`` equal to its own (UTC
here), so psycopg's loader already gives the same aware datetimes; one read in any other zone is
converted to the instant in UTC.
"""

from __future__ import annotations

import datetime
import functools
import select

from django.conf import settings
from django.db.backends.postgresql import base
from psycopg import adapt, adapters, pq

_TIMESTAMPTZ = adapters.types["timestamptz"].oid
_UTC = datetime.UTC
# The loader psycopg itself registers: its compiled one when the binary package is installed.
_PSYCOPG_TIMESTAMPTZ = adapters.get_loader(_TIMESTAMPTZ, pq.Format.TEXT)


class UtcTimestamptzLoader(adapt.Loader):
    # Django's create_cursor() compares this with the connection's zone and adds its own loader
    # to every cursor when they differ.
    timezone = _UTC

    def __init__(self, oid, context=None):
        super().__init__(oid, context)
        self._parse = _PSYCOPG_TIMESTAMPTZ(oid, context).load

    def load(self, data):
        value = self._parse(data)
        return value if value.tzinfo is _UTC else value.astimezone(_UTC)


@functools.cache
def _with_fast_timestamps(template: adapt.AdaptersMap) -> adapt.AdaptersMap:
    adapters_map = adapt.AdaptersMap(template)
    adapters_map.register_loader(_TIMESTAMPTZ, UtcTimestamptzLoader)
    return adapters_map


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
    def get_connection_params(self):
        params = super().get_connection_params()
        # Django's template for these settings: the same map, its timestamptz loader replaced.
        if settings.USE_TZ and self.timezone is _UTC and "context" in params:
            params["context"] = _with_fast_timestamps(params["context"])
        return params

    def is_usable(self) -> bool:
        if self.connection is not None and _idle_with_nothing_to_read(self.connection):
            return True
        return super().is_usable()
