"""Recording audit events. Every app records through :func:`record_event` and nothing else."""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
import threading
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from audit.actions import Action, ActorType, Outcome
from audit.context import current_client_request_id, current_request_id
from audit.models import GENESIS_HASH, AuditEvent, chain_key
from audit.network import client_address
from audit.redaction import redact, redact_text

# Any constant works; it names the chain's lock in PostgreSQL's advisory-lock space.
_CHAIN_LOCK_ID = 7_300_001
_IP_FIELD = AuditEvent._meta.get_field("source_ip")
_MAX = {f.name: f.max_length for f in AuditEvent._meta.fields if getattr(f, "max_length", None)}


def _lock_chain() -> None:
    """Serialise appends so that each event chains to exactly one predecessor.

    PostgreSQL: a transaction-scoped advisory lock, taken before the last hash is read (READ
    COMMITTED then sees the previous holder's committed row). It is held until the *outermost*
    transaction commits, so callers record events last and keep such transactions short.
    SQLite: one writer at a time, but a deferred transaction that reads first and writes second
    deadlocks against another writer ("database is locked", with no wait). A no-op write as the
    first statement takes the write lock up front, so a second writer waits its turn instead.
    Either way the unique ``prev_hash`` makes a fork impossible even if this were bypassed.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_ID])
        elif connection.vendor == "sqlite":
            cursor.execute(f"UPDATE {AuditEvent._meta.db_table} SET id = id WHERE 0")  # noqa: S608


def _client_ip(request) -> str | None:
    if request is None:
        return None
    # Behind trusted proxies, the client named in X-Forwarded-For (audit/network.py).
    raw = client_address(request) or ""
    try:
        # Stored (and hashed) in the database's normal form, e.g. ``::ffff:1.2.3.4`` -> IPv4.
        return _IP_FIELD.to_python(raw) or None
    except ValidationError:
        return None


def _label(user) -> str:
    return getattr(user, "email", "") or ""


def _text(value, limit: int) -> str:
    # PostgreSQL refuses NUL in text and enforces max_length; the hot path must never fail on
    # either, so both are handled here rather than in every caller.
    return str(value or "").replace("\x00", "")[:limit]


def _json_safe(metadata: dict) -> dict:
    # What is hashed at insert time must be exactly what verify reads back: round-trip through
    # JSON (tuples become lists, keys strings, dates strings) before hashing.
    return json.loads(json.dumps(redact(metadata), default=str))


def record_event(
    action: Action | str,
    *,
    actor_type: ActorType | str = ActorType.SYSTEM,
    actor_user=None,
    subject_user=None,
    app=None,
    grant=None,
    service: str = "",
    scope: str = "",
    resource: str = "",
    outcome: Outcome | str = Outcome.SUCCESS,
    reason: str = "",
    background: bool | None = None,
    request=None,
    request_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain and return it.

    ``metadata`` is for small facts (status codes, latency, counts); anything that looks like a
    token or secret is removed from it before it is stored. Never pass request or response bodies.
    """
    if grant is not None:
        app = app or grant.app
        subject_user = subject_user or grant.user
    if actor_user is not None:
        actor_label = _label(actor_user)
    elif app is not None and actor_type == ActorType.APP:
        actor_label = app.name
    else:
        actor_label = ""
    event = AuditEvent(
        actor_type=actor_type,
        actor_user=actor_user,
        actor_label=_text(actor_label, _MAX["actor_label"]),
        subject_user=subject_user,
        subject_label=_text(_label(subject_user), _MAX["subject_label"]),
        app=app,
        app_label=_text(app.name if app else "", _MAX["app_label"]),
        grant=grant,
        action=action,
        service=_text(service, _MAX["service"]),
        scope=_text(scope, _MAX["scope"]),
        resource=_text(redact_text(str(resource or "")), _MAX["resource"]),
        outcome=outcome,
        reason=_text(redact_text(str(reason or "")), _MAX["reason"]),
        background=background,
        request_id=_text(
            request_id or getattr(request, "request_id", None) or current_request_id(),
            _MAX["request_id"],
        ),
        source_ip=_client_ip(request),
        metadata=_json_safe(metadata or {}),
        client_request_id=_text(
            getattr(request, "client_request_id", None) or current_client_request_id(),
            _MAX["client_request_id"],
        ),
    )
    if _single_round_trip():
        if connection.in_atomic_block:
            # A savepoint, so a failure leaves the caller's transaction usable (as below). The
            # lock is then held until the caller commits: never batched with other threads.
            with transaction.atomic():
                _append_postgresql(event)
        else:
            _group_commit.append(event)
        return event
    with transaction.atomic():
        _lock_chain()
        # Taken under the lock, so time never goes backwards along the chain.
        event.occurred_at = timezone.now()
        last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event.prev_hash = last or GENESIS_HASH
        event.hash = event.compute_hash(event.prev_hash)
        event.save()
    return event


# --- PostgreSQL: the whole append in one round trip -------------------------------------------
#
# One statement, ``audit_append_one`` (a PL/pgSQL function, migration 0008): the advisory lock,
# then the last hash, read in a fresh snapshot (each statement of a VOLATILE function takes one
# under READ COMMITTED, so it is the previous holder's committed row, exactly like the
# read-after-lock of the portable path), the time and the INSERT, which computes the new hash in
# SQL. PostgreSQL keeps the function's plans per connection, so the insert is not planned again
# for every event (planning it was a third of an append's database time). Outside a transaction
# the statement is its own transaction (lock, insert, commit: one round trip instead of five);
# inside one, the lock is held until the caller commits, as before. The hash is the same
# ``hmac_sha256(key, prev_hash | canonical JSON)`` as ``AuditEvent.compute_hash``: the canonical
# JSON is built here in Python, with the time (taken under the lock, in SQL) spliced in as
# Python's ``isoformat()`` would write it, so ``compute_hash`` of the stored row (what
# ``audit_verify`` checks) gives the same hash. The unique ``prev_hash`` still refuses any fork.

_TABLE = AuditEvent._meta.db_table
# The function's parameters, after the lock id and the genesis hash, are these columns in this
# order (``p_<column>``; tests/audit compares them with the function's own).
_SQL_FIELDS = [
    f
    for f in AuditEvent._meta.concrete_fields
    if f.name not in {"id", "occurred_at", "prev_hash", "hash"}
]
_APPEND_SQL = (
    "SELECT out_id, out_occurred_at, out_prev_hash, out_hash FROM audit_append_one("  # noqa: S608
    + ", ".join(["%s"] * (2 + len(_SQL_FIELDS) + 4))
    + ")"
)
_UTC_TS = "(SELECT ts FROM now_) AT TIME ZONE 'UTC'"
# Python's isoformat() of an aware UTC datetime: microseconds only when not zero (the batch's
# statement below; the function has the same expression).
_ISO_SQL = (
    f"to_char({_UTC_TS}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
    f"CASE WHEN to_char({_UTC_TS}, 'US') = '000000' THEN '' "
    f"ELSE '.' || to_char({_UTC_TS}, 'US') END || '+00:00'"
)


# Only these need the field's own preparation for the driver (JSON, an IP address); every other
# column's value is already what the driver sends (str, int, bool, None: see record_event).
_PREPARED = frozenset(
    f.attname
    for f in _SQL_FIELDS
    if f.get_internal_type() in {"JSONField", "GenericIPAddressField"}
)


def _db_values(event: AuditEvent) -> list:
    return [
        f.get_db_prep_save(getattr(event, f.attname), connection)
        if f.attname in _PREPARED
        else getattr(event, f.attname)
        for f in _SQL_FIELDS
    ]


def _hmac_pads() -> tuple[bytes, bytes]:
    """(key XOR opad, key XOR ipad), the two halves of HMAC-SHA256's key schedule."""
    return _pads_of(chain_key())


@functools.lru_cache(maxsize=4)  # per key: a test or a rotation changes AUDIT_CHAIN_KEY
def _pads_of(key: bytes) -> tuple[bytes, bytes]:
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x5C for b in key), bytes(b ^ 0x36 for b in key)


def _single_round_trip() -> bool:
    # A batch's two statements with parameters in one execute() need psycopg's client-side
    # binding (Django's default); with server-side binding the portable path is used.
    return connection.vendor == "postgresql" and not connection.settings_dict.get(
        "OPTIONS", {}
    ).get("server_side_binding")


def _around_time(event: AuditEvent) -> tuple[str, str]:
    """The event's canonical JSON in two parts, before and after its time (placed in SQL)."""
    marker = secrets.token_hex(16)
    canonical = {name: getattr(event, name) for name in AuditEvent.HASHED_FIELDS}
    canonical["occurred_at"] = marker
    for name in ("actor_type", "action", "outcome"):
        canonical[name] = str(canonical[name])
    payload = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    before, found, after = payload.partition(f'"{marker}"')
    if not found or marker in after:  # pragma: no cover - a random marker cannot collide
        raise RuntimeError("could not place the time in the audit event's canonical form")
    return before + '"', '"' + after


def _stored(event: AuditEvent, row) -> None:
    event.pk, event.occurred_at, event.prev_hash, event.hash = row
    event._state.adding = False
    event._state.db = connection.alias


def _append_postgresql(event: AuditEvent) -> None:
    before, after = _around_time(event)
    values = _db_values(event)
    with connection.cursor() as cursor:
        cursor.execute(
            _APPEND_SQL, [_CHAIN_LOCK_ID, GENESIS_HASH, *values, *_hmac_pads(), before, after]
        )
        row = cursor.fetchone()
    _stored(event, row)


# --- PostgreSQL, outside a transaction: group commit ---------------------------------------------
#
# Appends are serialised by the chain's lock, so under load every thread of every process waited
# for one insert and its commit at a time. Here the threads of one process that want to append
# at the same moment share one: the first to take the process's appender lock appends every
# event queued so far (its own included) in one statement (the lock, one multi-row INSERT whose
# hashes are chained in SQL by a recursive CTE, the commit), then marks each of them stored; a
# thread whose event went out in someone else's batch returns as soon as it gets the appender
# lock, with its event stored. Nobody returns before its own event is committed, so an event is
# durable before the response, exactly as with one statement per event; a failed batch raises in
# every thread whose event it held, and none of those events is stored (one statement, one
# transaction). A batch takes the chain's time once (events of one batch share occurred_at; the
# chain's order is the id order, as before).

MAX_BATCH = 64
# The cast of each column in the batch's VALUES list (unknown-typed NULLs must still have a type):
# text for character columns (the insert then checks their length as before), else the column's.
_CASTS: dict[str, str] = {}


def _cast(field) -> str:
    cast = _CASTS.get(field.attname)
    if cast is None:
        db_type = field.db_type(connection) or "text"
        cast = _CASTS[field.attname] = "text" if db_type.startswith("varchar") else db_type
    return cast


@functools.cache
def _batch_sql(n: int) -> str:
    columns = ", ".join(f.column for f in _SQL_FIELDS)
    casts = [_cast(f) for f in _SQL_FIELDS]
    rows = ", ".join(
        f"({i}, %s::text, %s::text, " + ", ".join(f"%s::{c}" for c in casts) + ")"
        for i in range(1, n + 1)
    )
    names = ", ".join(f"c{j}" for j in range(len(_SQL_FIELDS)))
    return (
        "SELECT pg_advisory_xact_lock(%s);\n"  # noqa: S608 - the model's own names only
        "WITH RECURSIVE now_ AS MATERIALIZED (SELECT clock_timestamp() AS ts), "
        f"iso_ AS MATERIALIZED (SELECT {_ISO_SQL} AS s), "
        f"input_(n, before_, after_, {names}) AS (VALUES {rows}), "
        "chain_(n, prev, h) AS ("
        f"SELECT 0, NULL::text, COALESCE((SELECT hash FROM {_TABLE} ORDER BY id DESC LIMIT 1), "
        "%s)::text UNION ALL "
        "SELECT i.n, c.h, encode(sha256(%s::bytea || sha256(%s::bytea || convert_to("
        "c.h || '|' || i.before_ || (SELECT s FROM iso_) || i.after_, 'UTF8'))), 'hex') "
        "FROM chain_ c JOIN input_ i ON i.n = c.n + 1)\n"
        f"INSERT INTO {_TABLE} (occurred_at, {columns}, prev_hash, hash)\n"
        f"SELECT (SELECT ts FROM now_), {', '.join(f'i.c{j}' for j in range(len(_SQL_FIELDS)))}, "
        "c.prev, c.h FROM input_ i JOIN chain_ c ON c.n = i.n ORDER BY i.n\n"
        "RETURNING id, occurred_at, prev_hash, hash"
    )


def _append_batch(events: list[AuditEvent]) -> None:
    """Append ``events`` in this order, in one statement (one lock, one commit)."""
    if len(events) == 1:
        _append_postgresql(events[0])
        return
    params: list = [_CHAIN_LOCK_ID]
    for event in events:
        params.extend(_around_time(event))
        params.extend(_db_values(event))
    params.extend([GENESIS_HASH, *_hmac_pads()])
    with connection.cursor() as cursor:
        cursor.execute(_batch_sql(len(events)), params)
        cursor.nextset()
        rows = sorted(cursor.fetchall())  # by id: the chain's order
    if len(rows) != len(events):  # pragma: no cover - one INSERT, one row per event
        raise RuntimeError("the audit batch stored a different number of events")
    for event, row in zip(events, rows, strict=True):
        _stored(event, row)


class _Queued:
    __slots__ = ("done", "error", "event")

    def __init__(self, event: AuditEvent):
        self.event, self.done, self.error = event, False, None


class GroupCommit:
    """One per process: appends the events its threads queue, a batch at a time."""

    def __init__(self, append_batch=_append_batch):
        self._append_batch = append_batch
        self._appender = threading.Lock()  # held by the thread appending a batch
        self._queue_lock = threading.Lock()
        self._queue: list[_Queued] = []
        self.batches = 0  # how many statements were sent (tests)

    def append(self, event: AuditEvent) -> None:
        queued = _Queued(event)
        with self._queue_lock:
            self._queue.append(queued)
        with self._appender:
            if not queued.done:
                with self._queue_lock:
                    batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                try:
                    self.batches += 1
                    self._append_batch([q.event for q in batch])
                except BaseException as exc:
                    for q in batch:
                        q.error, q.done = exc, True
                else:
                    for q in batch:
                        q.done = True
        if queued.error is not None:
            raise queued.error
        if not queued.done:  # pragma: no cover - the appender lock above always settles it
            raise RuntimeError("the audit event was neither stored nor refused")


_group_commit = GroupCommit()
