"""A per-process cache of the token query's row, invalidated by version keys in the shared cache.

Every brokered call starts with the token, its client, app, person and grant (one query,
``broker.selectors.token_raw``). Those facts change rarely; calls are many. This keeps the row
in the process (keyed by the token's checksum) together with the *versions* of what it depends
on: the token, its grant, its app and its person, each a key in the shared cache (Redis). Any
change to one of them sets that key to a new random value (:func:`bump`, called by the receivers
in ``broker.receivers`` on every save or delete, in the transaction and again after commit), so
the next call in *any* process reads the versions (one ``MGET``), sees the difference and goes to
the database: revocation, narrowing and suspension take effect on the very next call.

Only with a shared cache (``REDIS_URL``): with the per-process default cache a change made in one
process could not reach the others, so the cache is off and every call reads the database. If
the shared cache cannot be reached the call reads the database too; ``MAX_AGE`` bounds how long an
entry can live even if a version change were lost (Redis evicting or losing a key, which yields a
new random version on the next read, not the old one).
"""

from __future__ import annotations

import secrets
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

PREFIX = "broker:v:"
MAX_AGE = 30.0  # seconds; a safety bound, not the invalidation mechanism
MAX_ENTRIES = 20_000

_entries: dict[str, tuple[float, tuple, object]] = {}  # checksum -> (stored at, versions, row)
_keys: dict[str, tuple[str, ...]] = {}  # checksum -> the version keys its row depends on
_lock = threading.Lock()


def enabled() -> bool:
    """A cache every process shares (Redis): only then is a version change seen everywhere."""
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    return backend.endswith("RedisCache")


def keys_for(*, token_id, grant_id, app_id, user_id) -> tuple[str, ...]:
    out = [f"token:{token_id}", f"app:{app_id}"]
    if grant_id is not None:
        out.append(f"grant:{grant_id}")
    if user_id is not None:
        out.append(f"user:{user_id}")
    return tuple(out)


def versions(keys: tuple[str, ...]) -> tuple | None:
    """The current versions of ``keys`` (creating missing ones); None if the cache is unreachable."""
    names = [PREFIX + k for k in keys]
    try:
        found = cache.get_many(names)
        for name in names:
            if name not in found:
                cache.add(name, secrets.token_hex(8), timeout=None)
                found[name] = cache.get(name)
        if any(found.get(n) is None for n in names):
            return None
        return tuple(found[n] for n in names)
    except Exception:
        return None


def lookup(checksum: str, load) -> tuple[object, bool]:
    """``(row, from_cache)`` for this token checksum: the row from the process if nothing it depends on changed,
    otherwise ``load()`` (which returns ``(row, keys)``; ``keys`` from :func:`keys_for`).

    The versions are read *before* the database: a change committed after that read makes the
    stored entry stale on the next call, whatever the interleaving. That needs the keys before
    the row, so the first call for a token only learns them (a token's id, grant, app and person
    never change); from the second call on, the row is cached.
    """
    if not enabled():
        return load()[0], False
    known = _keys.get(checksum)
    seen = versions(known) if known else None
    if seen is not None:
        entry = _entries.get(checksum)
        if entry is not None and entry[1] == seen and time.monotonic() - entry[0] <= MAX_AGE:
            return entry[2], True
    row, keys = load()
    with _lock:
        if len(_entries) >= MAX_ENTRIES or len(_keys) >= MAX_ENTRIES:
            _entries.clear()
            _keys.clear()
        if row is None or keys is None:
            _entries.pop(checksum, None)
        elif keys == known and seen is not None:
            _entries[checksum] = (time.monotonic(), seen, row)
        else:
            _keys[checksum] = keys
            _entries.pop(checksum, None)
    return row, False


def bump(*keys: str) -> None:
    """Give each key a new version now and again after the surrounding transaction commits (a
    reader between the two re-reads the old row but stores it under the first new version, which
    the second makes stale)."""
    if not enabled() or not keys:
        return

    def _set():
        try:
            cache.set_many({PREFIX + k: secrets.token_hex(8) for k in keys}, timeout=None)
        except Exception:
            clear_local()  # this process at least; others stop at MAX_AGE

    _set()
    transaction.on_commit(_set)


def clear_local() -> None:
    with _lock:
        _entries.clear()
        _keys.clear()
