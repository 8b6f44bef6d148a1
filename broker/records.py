"""What every brokered call shares: its audit record, its result, "last used", refusals."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from audit.actions import Action, ActorType, Outcome
from audit.services import record_event
from broker import exceptions
from broker.policy import Decision, Refusal


@dataclass
class CallRecord:
    """What the audit row says about one call (filled in as the call proceeds)."""

    operation: str
    scope: str = ""
    service: str = ""
    resource: str = ""
    background: bool | None = None
    outcome: str = Outcome.SUCCESS
    reason: str = ""
    status: int = 200
    upstream_status: int | None = None
    upstream_ms: float | None = None
    started: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True, slots=True)
class BrokerResult:
    status: int
    data: Any = None
    content: bytes | None = None
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)


def record_call(*, record: CallRecord, token, grant, request) -> None:
    app = token.app
    metadata = {
        "operation": record.operation,
        "status": record.status,
        "latency_ms": round((time.perf_counter() - record.started) * 1000, 1),
    }
    if record.upstream_status is not None:
        metadata["upstream_status"] = record.upstream_status
    if record.upstream_ms is not None:
        metadata["upstream_latency_ms"] = round(record.upstream_ms, 1)
    record_event(
        Action.API_CALL,
        actor_type=ActorType.APP,
        app=app,
        grant=grant,
        subject_user=grant.user if grant is not None else token.user,
        service=record.service,
        scope=record.scope,
        resource=record.resource,
        outcome=record.outcome,
        reason=record.reason,
        background=record.background,
        request=request,
        metadata=metadata,
    )


# "Last used" is shown to people to the minute; writing it on every call would add a commit
# (an fsync on PostgreSQL) to each call for nothing they can see.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def touch(grant, connection) -> None:
    """Mark grant and connection used: skipped when the value just read is recent, otherwise
    one conditional UPDATE (so concurrent calls write it once), in autocommit, no extra commit
    when nothing changes. A grant from the process cache (broker.factcache) is as current as
    one read now: any write to its row, this one included, makes the next call read it again."""
    now = timezone.now()
    stale = now - LAST_USED_RESOLUTION
    for row in (grant, connection):
        if row is None:
            continue
        if row.last_used_at is None or row.last_used_at <= stale:
            type(row).objects.filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale), pk=row.pk
            ).update(last_used_at=now)
            row.last_used_at = now


def refusal_error(refusal: Refusal) -> exceptions.BrokerError:
    """The API error for a policy refusal."""
    cls = exceptions.REFUSALS[refusal.code]
    return cls(refusal.message, **dict(refusal.details))


def refuse(decision: Decision) -> exceptions.BrokerError:
    return refusal_error(decision.refusal)


def session_window() -> timedelta:
    return settings.SESSION_GRANT_WINDOW
