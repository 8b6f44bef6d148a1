"""Recording audit events. Every app records through :func:`record_event` and nothing else."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit.actions import Action, ActorType, Outcome
from audit.models import GENESIS_HASH, AuditEvent
from audit.redaction import redact

# Any constant works; it names the chain's lock in PostgreSQL's advisory-lock space.
_CHAIN_LOCK_ID = 7_300_001


def _lock_chain() -> None:
    # Appends must be serialised so that each event chains to exactly one predecessor.
    # SQLite serialises writers by itself; PostgreSQL needs a transaction-scoped advisory lock.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_ID])


def _client_ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _label(user) -> str:
    return getattr(user, "email", "") or ""


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
    from config.middleware import current_request_id

    if grant is not None:
        app = app or grant.app
        subject_user = subject_user or grant.user
    event = AuditEvent(
        occurred_at=timezone.now(),
        actor_type=actor_type,
        actor_user=actor_user,
        actor_label=_label(actor_user)
        if actor_user
        else (app.name if app and actor_type == ActorType.APP else ""),
        subject_user=subject_user,
        subject_label=_label(subject_user),
        app=app,
        app_label=app.name if app else "",
        grant=grant,
        action=action,
        service=service or "",
        scope=scope or "",
        resource=(resource or "")[:500],
        outcome=outcome,
        reason=(reason or "")[:500],
        background=background,
        request_id=request_id or getattr(request, "request_id", None) or current_request_id() or "",
        source_ip=_client_ip(request),
        metadata=redact(metadata or {}),
    )
    with transaction.atomic():
        _lock_chain()
        last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event.prev_hash = last or GENESIS_HASH
        event.hash = event.compute_hash(event.prev_hash)
        event.save()
    return event
