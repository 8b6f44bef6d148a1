"""Verifying the hash chain, and archiving its oldest part to JSON lines.

The chain: every event stores ``prev_hash`` (its predecessor's ``hash``; the first event ever
chains to ``GENESIS_HASH``) and ``hash = HMAC-SHA256(AUDIT_CHAIN_KEY, prev_hash | canonical
content)``. Changing any stored field breaks that event's hash; removing or reordering events
breaks a ``prev_hash``; without the key (kept outside the database) nobody can recompute a chain
that verifies. Removing the *newest* events leaves a shorter chain that still verifies: a signed
checkpoint (:func:`make_checkpoint`, kept outside the database) names an event and its hash, and
``audit_verify --since-checkpoint`` fails if that event is gone or different.

An archive file holds a prefix of the chain, one event per line, oldest first, with the same
canonical fields, ``id``, ``prev_hash`` and ``hash``. Its last ``hash`` is the *anchor*: the first
event left in the database chains to it, so the file plus the database verify as one chain.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from audit.actions import Action, ActorType
from audit.models import ALG_HMAC, ALG_SHA256, GENESIS_HASH, AuditEvent, chain_hash, chain_key

Record = tuple[int, str, str, dict, str]  # id, prev_hash, hash, canonical content, hash algorithm

BATCH = 5000


class ArchiveError(Exception):
    """The archive could not be written or does not verify; nothing was deleted."""


@dataclass(frozen=True, slots=True)
class Break:
    event_id: int
    problem: str

    def __str__(self):
        return f"event #{self.event_id}: {self.problem}"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    checked: int
    last_hash: str
    first_break: Break | None
    anchor: str

    @property
    def ok(self) -> bool:
        return self.first_break is None


def verify_records(records: Iterable[Record], *, anchor: str) -> VerifyResult:
    """Check ``(id, prev_hash, hash, canonical, alg)`` records in chain order from ``anchor``.

    Pure: no database. Stops at the first break and names it.
    """
    expected_prev = anchor
    checked = 0
    for event_id, prev_hash, stored_hash, canonical, alg in records:
        if prev_hash != expected_prev:
            problem = (
                "does not chain to the previous event (an event before it was removed, "
                "reordered or altered)"
                if checked
                else "does not chain to the anchor (events before it are missing; pass the "
                "archive or its last hash as the anchor)"
            )
            return VerifyResult(checked, expected_prev, Break(event_id, problem), anchor)
        if chain_hash(prev_hash, canonical, alg=alg) != stored_hash:
            return VerifyResult(
                checked,
                expected_prev,
                Break(event_id, "its content does not match its hash (the event was altered)"),
                anchor,
            )
        expected_prev = stored_hash
        checked += 1
    return VerifyResult(checked, expected_prev, None, anchor)


def _db_records(*, after_id: int = 0) -> Iterator[Record]:
    # Keyset pagination in id order: constant memory and no long-running cursor on a big table.
    last_id = after_id
    while True:
        batch = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:BATCH])
        if not batch:
            return
        for event in batch:
            yield event.pk, event.prev_hash, event.hash, event.canonical(), ALG_HMAC
        last_id = batch[-1].pk


def archive_records(path: Path) -> Iterator[Record]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                event_id = data.pop("id")
                prev_hash = data.pop("prev_hash")
                stored_hash = data.pop("hash")
                # Archives written before the chain was keyed have no "alg": plain SHA-256.
                alg = data.pop("alg", ALG_SHA256)
            except (ValueError, KeyError) as exc:
                raise ArchiveError(f"{path}: line {number} is not an archived event.") from exc
            if alg not in (ALG_SHA256, ALG_HMAC):
                raise ArchiveError(f"{path}: line {number} names an unknown hash algorithm.")
            yield event_id, prev_hash, stored_hash, data, alg


def default_anchor() -> str:
    """The anchor the database's chain starts from when no archive is given.

    ``GENESIS_HASH`` if nothing was ever archived; otherwise the anchor that the newest
    ``audit.archived`` event (itself part of the verified chain) recorded.
    """
    first = AuditEvent.objects.order_by("id").values_list("prev_hash", flat=True).first()
    if first is None or first == GENESIS_HASH:
        return GENESIS_HASH
    archived = (
        AuditEvent.objects.filter(action=Action.AUDIT_ARCHIVED)
        .order_by("-id")
        .values_list("metadata", flat=True)
    )
    for metadata in archived[:50]:
        if metadata.get("anchor_hash") == first:
            return first
    return GENESIS_HASH


def verify_database(*, anchor: str | None = None) -> VerifyResult:
    return verify_records(_db_records(), anchor=anchor or default_anchor())


def verify_archive_then_database(path: Path, *, anchor: str = GENESIS_HASH) -> VerifyResult:
    """Verify an archive file, then the database's chain anchored on the file's last hash."""
    in_file = verify_records(archive_records(path), anchor=anchor)
    if not in_file.ok:
        return in_file
    in_db = verify_records(_db_records(), anchor=in_file.last_hash)
    return VerifyResult(in_file.checked + in_db.checked, in_db.last_hash, in_db.first_break, anchor)


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    count: int
    first_id: int | None
    last_id: int | None
    anchor_hash: str | None
    path: Path


def _raw_delete_through(last_id: int) -> int:
    # The only deletion of audit events, on purpose outside the append-only guards of the model
    # and its queryset (``_raw_delete`` is the base QuerySet's SQL DELETE, no signals, no save()).
    # On PostgreSQL a trigger refuses DELETE unless this transaction says it is the archive
    # (audit/migrations/0007_append_only_trigger.py); SET LOCAL ends with the transaction.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL audit.archiving = 'on'")
    qs = AuditEvent.objects.filter(id__lte=last_id)
    return qs._raw_delete(qs.db)


def archive_before(
    *, before: dt.datetime, path: Path, actor=None, reason: str = ""
) -> ArchiveResult:
    """Write every event older than ``before`` to ``path`` (JSON lines), verify the file, record
    an ``audit.archived`` event naming the anchor, then delete the archived events.

    Refuses to overwrite a file. The archived part must itself verify (from the current anchor),
    otherwise nothing is written or deleted: a broken chain is not archived silently.
    """
    path = Path(path)
    if path.exists():
        raise ArchiveError(f"{path} already exists; archives are never overwritten.")
    last_id = (
        AuditEvent.objects.filter(occurred_at__lt=before)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    if last_id is None:
        return ArchiveResult(0, None, None, None, path)
    anchor = default_anchor()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    digest = hashlib.sha256()
    count = 0
    first_id = None
    expected_prev = anchor
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for event_id, prev_hash, stored_hash, canonical, alg in _db_records():
                if event_id > last_id:
                    break
                if prev_hash != expected_prev or chain_hash(prev_hash, canonical, alg=alg) != (
                    stored_hash
                ):
                    raise ArchiveError(
                        f"Event #{event_id} does not verify; run audit_verify. Nothing archived."
                    )
                expected_prev = stored_hash
                line = json.dumps(
                    {
                        "id": event_id,
                        "prev_hash": prev_hash,
                        "hash": stored_hash,
                        "alg": alg,
                        **canonical,
                    },
                    sort_keys=True,
                    separators=(",", ":"),
                    default=str,
                )
                handle.write(line + "\n")
                digest.update((line + "\n").encode())
                first_id = first_id or event_id
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        check = verify_records(archive_records(tmp), anchor=anchor)
        if not check.ok or check.checked != count:
            raise ArchiveError(f"The archive written to {tmp} does not verify: {check.first_break}")
        tmp.rename(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    from audit.services import record_event

    with transaction.atomic():
        record_event(
            Action.AUDIT_ARCHIVED,
            actor_type=ActorType.STAFF if actor is not None else ActorType.SYSTEM,
            actor_user=actor,
            reason=reason or f"Events before {before.isoformat()} archived",
            metadata={
                "anchor_hash": expected_prev,
                "first_id": first_id,
                "last_id": last_id,
                "count": count,
                "file": path.name,
                "file_sha256": digest.hexdigest(),
            },
        )
        _raw_delete_through(last_id)
    return ArchiveResult(count, first_id, last_id, expected_prev, path)


# --- signed checkpoints ----------------------------------------------------------------------
CHECKPOINT_PREFIX = "auditcp1"


class CheckpointError(ValueError):
    """A checkpoint is malformed or its signature is wrong (not made with AUDIT_CHAIN_KEY)."""


def _sign(body: bytes) -> str:
    return hmac.new(chain_key(), b"checkpoint|" + body, hashlib.sha256).hexdigest()


def make_checkpoint() -> str:
    """A signed statement of the chain's head: ``auditcp1.<base64 JSON>.<HMAC>``. Keep it outside
    the database (ticket, log archive, another system); verifying against it later shows whether
    events up to its head were removed or rewritten since."""
    head = AuditEvent.objects.order_by("-id").values_list("id", "hash").first()
    last_id, last_hash = head if head else (0, GENESIS_HASH)
    body = json.dumps(
        {
            "last_id": last_id,
            "last_hash": last_hash,
            "count": AuditEvent.objects.count(),
            "at": timezone.now().isoformat(),
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    encoded = base64.urlsafe_b64encode(body).decode().rstrip("=")
    return f"{CHECKPOINT_PREFIX}.{encoded}.{_sign(body)}"


def read_checkpoint(text: str) -> dict:
    try:
        prefix, encoded, signature = text.strip().split(".")
        body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        raise CheckpointError("This is not an audit checkpoint.") from None
    if prefix != CHECKPOINT_PREFIX:
        raise CheckpointError("This is not an audit checkpoint.")
    if not hmac.compare_digest(_sign(body), signature):
        raise CheckpointError(
            "The checkpoint's signature is wrong: it was altered, or made with another key."
        )
    data = json.loads(body)
    if not isinstance(data.get("last_id"), int) or not isinstance(data.get("last_hash"), str):
        raise CheckpointError("The checkpoint names no event.")
    return data


def verify_since_checkpoint(text: str) -> VerifyResult:
    """Verify the chain in the database and that the checkpoint's head is still in it, unchanged.

    Events archived since the checkpoint are fine (the archive recorded them); events removed or
    recomputed are not."""
    checkpoint = read_checkpoint(text)
    last_id, last_hash = checkpoint["last_id"], checkpoint["last_hash"]
    result = verify_database()
    if not result.ok or last_id == 0:
        return result
    stored = AuditEvent.objects.filter(pk=last_id).values_list("hash", flat=True).first()
    if stored is None:
        first = AuditEvent.objects.order_by("id").values_list("id", flat=True).first()
        archived = first is not None and first > last_id and _archived_through(last_id)
        if not archived:
            return VerifyResult(
                result.checked,
                result.last_hash,
                Break(last_id, "the checkpoint's newest event is gone (events were deleted)"),
                result.anchor,
            )
    elif stored != last_hash:
        return VerifyResult(
            result.checked,
            result.last_hash,
            Break(last_id, "differs from the checkpoint (the chain was rewritten)"),
            result.anchor,
        )
    return result


def _archived_through(event_id: int) -> bool:
    archived = AuditEvent.objects.filter(action=Action.AUDIT_ARCHIVED).values_list(
        "metadata", flat=True
    )
    return any((m.get("last_id") or 0) >= event_id for m in archived)
