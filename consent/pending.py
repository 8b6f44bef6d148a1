"""The pending action's state machine: every transition of a held write, and nothing else.

    created --approve--> approved --claim--> performing --finish--> performed
       |                    |                    |         \\-----> failed
       |--reject--> rejected|                    \\--strand--> outcome_unknown
       \\--expire--> expired <-- (claim after expiry)

A write an app asks for without ``agents.actions.unattended_writes`` is *created* (the broker
calls :func:`create`); the person *approves* or *rejects* it on the approvals page; an approved
one is *claimed* by exactly one worker (row lock) before the provider is called, so it is never
performed twice, then *finished* as performed or failed. One whose worker died after the claim
cannot be known to have happened or not: it becomes *outcome_unknown*, never retried. Whether an
action is *expired* is decided only by :func:`is_expired`. Each transition changes the row under
a lock and records its audit event in the same transaction.

The stored values of the first states are the ones apps already read on the API (``pending``,
``succeeded``): the names here are the machine's, the values the wire's.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.actions import Action, ActorType, Outcome
from audit.services import record_event
from consent.models import PendingAction, StandingApproval
from consent.signals import pending_action_approved

STANDING_APPROVAL_LIFETIME = timedelta(hours=24)

State = PendingAction.Status

# Which state may follow which; anything else is refused by :func:`_move`.
TRANSITIONS: dict[str, frozenset[str]] = {
    State.CREATED: frozenset({State.APPROVED, State.REJECTED, State.EXPIRED}),
    # An approved action not yet performed is rejected if its grant is revoked meanwhile.
    State.APPROVED: frozenset({State.PERFORMING, State.EXPIRED, State.REJECTED}),
    State.PERFORMING: frozenset({State.PERFORMED, State.FAILED, State.OUTCOME_UNKNOWN}),
}
TERMINAL = frozenset(
    {State.PERFORMED, State.FAILED, State.REJECTED, State.EXPIRED, State.OUTCOME_UNKNOWN}
)


class PendingActionError(Exception):
    """The pending action cannot be decided (any more); the message is for the person."""


def is_expired(action: PendingAction, now: datetime | None = None) -> bool:
    """The one place that says whether an action has expired: not yet performed (or being
    performed) and past its time."""
    if action.status == State.EXPIRED:
        return True
    return action.status in (State.CREATED, State.APPROVED) and action.expires_at <= (
        now or timezone.now()
    )


def status_now(action: PendingAction, now: datetime | None = None) -> str:
    """The status to show: an action past its time reads as expired before the sweep runs."""
    return State.EXPIRED if is_expired(action, now) else action.status


def _move(action: PendingAction, to: str, **fields) -> None:
    if to not in TRANSITIONS.get(action.status, ()):
        raise ValueError(f"a pending action cannot go from {action.status} to {to}")
    action.status = to
    for name, value in fields.items():
        setattr(action, name, value)
    action.save(update_fields=["status", *fields])


def _locked(action_id: int, **filters) -> PendingAction | None:
    return (
        PendingAction.objects.select_for_update()
        .select_related("grant__app", "grant__user")
        .filter(pk=action_id, **filters)
        .first()
    )


def _event(action: PendingAction, what: Action, outcome: Outcome, **kwargs) -> None:
    metadata = {"pending_action": action.pk, "operation": action.operation}
    metadata.update(kwargs.pop("metadata", {}))
    record_event(
        what,
        grant=action.grant,
        service=action.service,
        scope=action.scope,
        resource=action.resource,
        outcome=outcome,
        metadata=metadata,
        **kwargs,
    )


# --- the transitions --------------------------------------------------------------------------


def create(
    *, grant, operation: str, service: str, scope: str, resource: str, summary: str,
    params: dict, body: dict, background: bool | None, downstream: dict | None = None,
) -> PendingAction:  # fmt: skip
    """Hold a write for the person's approval (state *created*).

    If the person left a standing approval for this operation on this resource by this app
    ("approve similar for 24 h"), it is *approved* at once, by that standing approval, and
    audited as such; otherwise it waits for the person."""
    now = timezone.now()
    with transaction.atomic():
        action = PendingAction.objects.create(
            grant=grant,
            operation=operation,
            service=service,
            scope=scope,
            resource=resource,
            summary=summary[:500],
            params=params,
            body=body,
            downstream=downstream or {},
            expires_at=now + settings.BROKER_PENDING_ACTION_TTL,
        )
        _event(
            action, Action.PENDING_ACTION_CREATED, Outcome.PENDING,
            actor_type=ActorType.APP, background=background,
        )  # fmt: skip
        standing = standing_for(grant=grant, operation=operation, resource=resource, now=now)
        if standing is not None and scope in grant.scopes:
            _move(action, State.APPROVED, decided_at=now, standing_approval=standing)
            _event(
                action, Action.PENDING_ACTION_APPROVED, Outcome.SUCCESS,
                actor_type=ActorType.SYSTEM,
                reason=f"approved by your standing approval #{standing.pk} "
                f"(until {standing.expires_at:%Y-%m-%d %H:%M} UTC)",
                metadata={"standing_approval": standing.pk},
            )  # fmt: skip
            transaction.on_commit(
                lambda: pending_action_approved.send(sender=PendingAction, pending_action=action)
            )
    return action


def standing_for(*, grant, operation: str, resource: str, now: datetime):
    """The person's active standing approval covering this write, or None."""
    return (
        StandingApproval.objects.filter(
            grant=grant,
            operation=operation,
            resource=resource,
            ended_at__isnull=True,
            expires_at__gt=now,
        )
        .order_by("-expires_at")
        .first()
    )


def standing_end(*, approval_id: int, user, request=None) -> StandingApproval:
    """End a standing approval early: later writes wait for the person again."""
    now = timezone.now()
    with transaction.atomic():
        approval = (
            StandingApproval.objects.select_for_update()
            .select_related("grant__app")
            .filter(pk=approval_id, grant__user=user)
            .first()
        )
        if approval is None:
            raise PendingActionError("There is no such standing approval.")
        if approval.is_active(now):
            approval.ended_at = now
            approval.save(update_fields=["ended_at"])
            record_event(
                Action.GRANT_CHANGED,
                grant=approval.grant,
                actor_type=ActorType.PERSON,
                actor_user=user,
                request=request,
                reason=f"standing approval #{approval.pk} ended early",
                metadata={"standing_approval": approval.pk, "operation": approval.operation},
            )
    return approval


def decide(
    *, action_id: int, user, approve: bool, request=None, similar_for_24h: bool = False
) -> PendingAction:
    """The person approves (*approved*) or rejects (*rejected*) one of their created actions.
    An approval is refused if the action expired or the grant no longer covers it; once it
    commits, ``pending_action_approved`` is sent (the broker performs it). With
    ``similar_for_24h`` the approval also stands for 24 hours for later writes of the same
    operation on the same resource by the same app (a :class:`StandingApproval`)."""
    now = timezone.now()
    with transaction.atomic():
        action = _locked(action_id, grant__user=user)
        if action is None:
            raise PendingActionError("There is no such action waiting for you.")
        if action.status != State.CREATED:
            raise PendingActionError(
                f"This action was already decided: {action.get_status_display().lower()}."
            )
        grant = action.grant
        if approve and is_expired(action, now):
            raise PendingActionError("This action has expired: the app must ask again.")
        if approve and not grant.is_live(now):
            raise PendingActionError("The app no longer has access: it cannot do this.")
        if approve and action.scope not in grant.scopes:
            raise PendingActionError("The app no longer has permission for this.")
        fields = {"decided_at": now, "decided_by": user}
        if approve and similar_for_24h:
            fields["standing_approval"] = StandingApproval.objects.create(
                grant=grant,
                operation=action.operation,
                resource=action.resource,
                summary=action.summary,
                created_by=user,
                created_at=now,
                expires_at=now + STANDING_APPROVAL_LIFETIME,
            )
        _move(action, State.APPROVED if approve else State.REJECTED, **fields)
        standing = fields.get("standing_approval")
        _event(
            action,
            Action.PENDING_ACTION_APPROVED if approve else Action.PENDING_ACTION_REJECTED,
            Outcome.SUCCESS if approve else Outcome.DENIED,
            actor_type=ActorType.PERSON, actor_user=user, request=request,
            reason="approved, and similar ones for 24 hours" if standing else "",
            metadata={"standing_approval": standing.pk} if standing else {},
        )  # fmt: skip
        if approve:
            # Sent once, after the status change is committed: a second click finds it decided.
            transaction.on_commit(
                lambda: pending_action_approved.send(sender=PendingAction, pending_action=action)
            )
    return action


def cancel_for_grant(*, grant, reason: str) -> int:
    """The grant was revoked: every action still waiting (created or approved, not yet being
    performed) becomes *rejected*, so re-consenting later never makes it approvable again
    (issue 12 item 13). Called inside the revocation's transaction. Returns how many."""
    now = timezone.now()
    done = 0
    waiting = PendingAction.objects.filter(grant=grant, status__in=[State.CREATED, State.APPROVED])
    for pk in list(waiting.values_list("pk", flat=True)):
        action = _locked(pk, status__in=[State.CREATED, State.APPROVED])
        if action is None:
            continue
        _move(action, State.REJECTED, decided_at=now, error_code=reason[:64])
        _event(
            action, Action.PENDING_ACTION_REJECTED, Outcome.DENIED,
            actor_type=ActorType.SYSTEM, reason="The app's access was revoked.",
        )  # fmt: skip
        done += 1
    return done


def expire_due(*, now: datetime | None = None) -> int:
    """Mark every created action past its time *expired* (the beat sweep). Returns how many."""
    now = now or timezone.now()
    done = 0
    due = PendingAction.objects.filter(status=State.CREATED, expires_at__lte=now)
    for pk in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            action = _locked(pk, status=State.CREATED)
            if action is None:
                continue
            _move(action, State.EXPIRED, decided_at=now)
            _event(
                action, Action.PENDING_ACTION_EXPIRED, Outcome.DENIED, actor_type=ActorType.SYSTEM
            )
            done += 1
    return done


def claim(*, action_id: int) -> tuple[PendingAction | None, bool]:
    """Take an approved action for performing (*performing*), exactly once.

    Returns the action and whether this caller claimed it: only then may it call the provider.
    Otherwise (already claimed or done, not approved, gone, or *expired* now because its time
    passed before a worker got to it) the action's status says why; ``(None, False)`` if gone."""
    with transaction.atomic():
        action = _locked(action_id)
        if action is None or action.status != State.APPROVED:
            return action, False
        now = timezone.now()
        if is_expired(action, now):
            _move(action, State.EXPIRED)
            _event(
                action, Action.PENDING_ACTION_EXPIRED, Outcome.FAILURE,
                reason="expired before it was performed",
            )  # fmt: skip
            return action, False
        _move(action, State.PERFORMING, executed_at=now)
    return action, True


def finish(
    *, action: PendingAction, performed: bool, result=None, upstream_status: int | None = None,
    error: str = "",
) -> str:  # fmt: skip
    """Record how performing ended: *performed* (with the provider's answer) or *failed*."""
    with transaction.atomic():
        row = _locked(action.pk, status=State.PERFORMING)
        if row is None:  # pragma: no cover - only the claimer finishes, and only once
            raise ValueError("only a performing action can be finished")
        _move(
            row,
            State.PERFORMED if performed else State.FAILED,
            result=result if performed else None,
            result_status=upstream_status,
            error_code=error,
        )
        _event(
            row, Action.PENDING_ACTION_EXECUTED, Outcome.SUCCESS if performed else Outcome.FAILURE,
            reason=error, background=False, metadata={"upstream_status": upstream_status},
        )  # fmt: skip
    action.status = row.status
    return row.status


def strand(*, older_than: timedelta, now: datetime | None = None) -> int:
    """Actions claimed longer ago than ``older_than`` whose worker never finished: whether the
    provider performed them cannot be known, so they become *outcome_unknown* (never retried:
    a write performed twice is worse than one the person must check). Returns how many."""
    now = now or timezone.now()
    done = 0
    stuck = PendingAction.objects.filter(status=State.PERFORMING, executed_at__lte=now - older_than)
    for pk in list(stuck.values_list("pk", flat=True)):
        with transaction.atomic():
            action = _locked(pk, status=State.PERFORMING)
            if action is None:
                continue
            _move(action, State.OUTCOME_UNKNOWN, error_code="outcome_unknown")
            _event(
                action, Action.PENDING_ACTION_EXECUTED, Outcome.FAILURE,
                reason="the worker stopped while performing it; the outcome is unknown: check at the provider",
            )  # fmt: skip
            done += 1
    return done
