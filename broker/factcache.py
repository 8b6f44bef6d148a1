"""A per-process cache of the token statement's row, checked on every call against the versions of
the rows it came from.

Every brokered call starts with the token, its client, app, person and grant (one statement,
``broker.selectors.token_raw_with_connection``). Those facts change rarely; calls are many. This
keeps the row in the process (keyed by the token's checksum) together with the *versions* of the
token, app, person and grant rows it was read from: PostgreSQL's ``xmin``, the transaction that
last wrote a row, which is new on every ``UPDATE`` whatever makes it (a service, the admin, a
``QuerySet.update``, DOT's own revocation and rotation, a shell, raw SQL) and gone with a deleted
row (the function ``broker_row_versions``, broker migration 0002). A cached call reads those
versions and the call's connection in one statement
(``broker.selectors.versions_with_connection``): when they are the ones the row was read with,
nothing it says has changed, as of that statement; otherwise the token statement runs again.
Row and versions are read in one statement, so no interleaving of a change and a read can store
an old row under new versions: revocation, narrowing and suspension take effect on the very next
call in every process, with no signal, no shared cache and no bump to lose.

PostgreSQL only (SQLite has no row versions), and only outside a transaction (:func:`enabled`):
otherwise every call reads the database. A row
without a grant (a person's token whose grant is gone) is not kept: that call is refused, and a
grant made later must be seen. ``MAX_AGE`` bounds an entry's life as a safety net; it is not
what invalidates.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import connections, router
from oauth2_provider.models import get_access_token_model

from broker.selectors import (
    TokenRead,
    grant_connection_ids,
    token_raw_with_connection,
    versions_with_connection,
)

MAX_AGE = 30.0  # seconds; a safety bound, not the invalidation mechanism
MAX_ENTRIES = 20_000


@dataclass(frozen=True, slots=True)
class Entry:
    stored_at: float  # time.monotonic()
    row: tuple
    versions: str
    ids: tuple  # the primary keys of the versioned rows (broker.selectors.VERSIONED)
    connection_ids: dict  # service -> the connection the row's grant names for it


_entries: dict[str, Entry] = {}
_lock = threading.Lock()


def enabled() -> bool:
    """Only where rows have versions, and only outside a transaction: there every read sees
    committed rows alone, and two committed versions of a row never share an ``xmin``. Inside
    one, the transaction's own writes to a row all carry its ``xmin``, so a row it read between
    two of them would pass for current."""
    db = router.db_for_read(get_access_token_model())
    return _has_row_versions(db) and not connections[db].in_atomic_block


@cache
def _has_row_versions(db: str) -> bool:
    return connections[db].vendor == "postgresql"


def lookup(checksum: str, *, service: str | None, ids_of, meanwhile=None) -> tuple[TokenRead, Any]:
    """The token statement's read for this checksum: the row kept in the process if the rows it
    came from are unchanged (with the call's connection for ``service`` read now), otherwise a
    new read. ``ids_of(row)`` gives a row's versioned primary keys, or None for a row that must
    not be kept.

    ``meanwhile(ids)``, for a kept row, is work whose wait overlaps the versions read: it is
    called with the kept row's primary keys before the read is sent and returns a function (or
    None), which is called once the read is back, even when the read fails. Returns the read
    and what that function returned (None when nothing was kept)."""
    if not enabled():
        return token_raw_with_connection(checksum, service=service), None
    entry = _entries.get(checksum)
    alongside = None
    if entry is not None and time.monotonic() - entry.stored_at <= MAX_AGE:
        finish = meanwhile(entry.ids) if meanwhile is not None else None
        try:
            versions, connection = versions_with_connection(
                entry.ids, entry.connection_ids.get(service) if service else None
            )
        finally:
            alongside = finish() if finish is not None else None
        if versions == entry.versions:
            return TokenRead(entry.row, versions, connection), alongside
    read = token_raw_with_connection(checksum, service=service)
    ids = ids_of(read.row) if read.row is not None else None
    if ids is None:
        with _lock:
            _entries.pop(checksum, None)
        return read, alongside
    entry = Entry(time.monotonic(), read.row, read.versions, ids, grant_connection_ids(read.row))
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[checksum] = entry
    return read, alongside


def clear_local() -> None:
    with _lock:
        _entries.clear()
