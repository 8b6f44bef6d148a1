"""Writes to grants and pending actions.

Each service changes its rows inside a transaction, records the change (before and after) and the
audit event. Views, tasks, the dashboard and the admin only call these.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.actions import Action, ActorType, Outcome
from audit.services import record_event
from consent import pending
from consent.approval_plan import ApprovalPlan, grant_expiry
from consent.catalog import BACKGROUND_SCOPE, CATALOG
from consent.models import EndedGrantToken, Grant, GrantChange, PendingAction
from consent.pending import PendingActionError

__all__ = ["PendingActionError"]  # raised by the approvals' services below (consent.pending)


def grant_snapshot(grant: Grant) -> dict:
    return {
        "scopes": sorted(grant.scopes),
        "declined_scopes": sorted(grant.declined_scopes or []),
        "connections": dict(grant.connections),
        "resources": {k: list(v) for k, v in grant.resources.items()},
        "duration": grant.duration,
        "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
        "revoked_at": grant.revoked_at.isoformat() if grant.revoked_at else None,
    }


def _actor_type(actor, grant: Grant | None = None) -> ActorType:
    if actor is None:
        return ActorType.SYSTEM
    if grant is not None and actor.pk == grant.user_id:
        return ActorType.PERSON
    return ActorType.STAFF if getattr(actor, "is_staff", False) else ActorType.PERSON


def grant_record_change(*, grant: Grant, before: dict, actor=None, reason: str = "") -> GrantChange:
    return GrantChange.objects.create(
        grant=grant, actor=actor, reason=reason[:500], before=before, after=grant_snapshot(grant)
    )


def _end_tokens(grant: Grant, *, now: datetime, access: bool = True) -> None:
    """End the refresh tokens (and, unless ``access`` is False, the access tokens) of a grant."""
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model

    client = grant.app.client
    get_refresh_token_model().objects.filter(
        user=grant.user, application=client, revoked__isnull=True
    ).update(revoked=now)
    if access:
        tokens = get_access_token_model().objects.filter(user=grant.user, application=client)
        # Remembered by checksum until they would have expired: the broker then answers
        # grant_revoked (the specific reason) rather than invalid_token.
        EndedGrantToken.objects.bulk_create(
            [
                EndedGrantToken(token_checksum=checksum, grant=grant, forget_after=expires)
                for checksum, expires in tokens.values_list("token_checksum", "expires")
                if checksum and expires > now
            ],
            ignore_conflicts=True,
        )
        tokens.delete()


def grant_revoke(
    *, grant: Grant, actor=None, reason: str = "", actor_type: ActorType | None = None
) -> Grant:
    """Revoke the whole grant: every token issued under it stops working on its next call."""
    with transaction.atomic():
        grant = Grant.objects.select_for_update().select_related("app__client").get(pk=grant.pk)
        if grant.revoked_at is not None:
            return grant
        before = grant_snapshot(grant)
        now = timezone.now()
        grant.revoked_at = now
        grant.revoke_reason = reason[:500]
        grant.updated_at = now
        grant.save(update_fields=["revoked_at", "revoke_reason", "updated_at"])
        # The broker refuses a revoked grant anyway; deleting the tokens also ends refresh.
        _end_tokens(grant, now=now)
        # Held writes die with the grant: a later re-consent must not make them approvable.
        pending.cancel_for_grant(grant=grant, reason="grant_revoked")
        grant_record_change(grant=grant, before=before, actor=actor, reason=reason)
        record_event(
            Action.GRANT_REVOKED,
            actor_type=actor_type or _actor_type(actor, grant),
            actor_user=actor,
            grant=grant,
            reason=reason,
        )
    return grant


def person_end_access(*, user, reason: str) -> int:
    """A deactivated person: revoke every grant (recorded, each), end every platform token they
    hold (even of apps without a live grant) and cancel their held writes. Returns the number of
    grants revoked."""
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model

    revoked = 0
    with transaction.atomic():
        for grant in Grant.objects.filter(user=user, revoked_at__isnull=True):
            grant_revoke(grant=grant, reason=reason, actor_type=ActorType.SYSTEM)
            revoked += 1
        now = timezone.now()
        refresh = get_refresh_token_model().objects.filter(user=user, revoked__isnull=True)
        ended = refresh.update(revoked=now)
        deleted, _ = get_access_token_model().objects.filter(user=user).delete()
        record_event(
            Action.TOKEN_REVOKED,
            actor_type=ActorType.SYSTEM,
            subject_user=user,
            reason=reason,
            metadata={"grants_revoked": revoked, "refresh_ended": ended, "access_ended": deleted},
        )
    return revoked


def grant_narrow(
    *,
    grant: Grant,
    actor=None,
    remove_scopes: tuple[str, ...] | list[str] = (),
    remove_resources: dict[str, list[str]] | None = None,
    reason: str = "",
) -> Grant:
    """Take part of a grant away (scopes, selected resources) and keep the rest working.

    ``remove_resources`` maps a scope name to canonical resource ids to drop. Background access and
    unattended writes are scopes too (``agents.jobs.background``), so they are dropped the same way.
    Taking background access away also ends every refresh token issued under the grant.
    """
    with transaction.atomic():
        grant = Grant.objects.select_for_update().select_related("app__client").get(pk=grant.pk)
        before = grant_snapshot(grant)
        grant.scopes = [s for s in grant.scopes if s not in set(remove_scopes)]
        resources = {k: list(v) for k, v in grant.resources.items() if k in grant.scopes}
        for scope, ids in (remove_resources or {}).items():
            drop = set(ids)
            if scope in resources:
                resources[scope] = [r for r in resources[scope] if r["id"] not in drop]
        grant.resources = resources
        # A service no remaining scope uses keeps no connection in the grant.
        services = {CATALOG[s].service for s in grant.scopes if s in CATALOG}
        grant.connections = {k: v for k, v in grant.connections.items() if k in services}
        after = grant_snapshot(grant)
        if after == before:
            return grant
        now = timezone.now()
        grant.updated_at = now
        grant.save(update_fields=["scopes", "resources", "connections", "updated_at"])
        if BACKGROUND_SCOPE in before["scopes"] and BACKGROUND_SCOPE not in grant.scopes:
            _end_tokens(grant, now=now, access=False)
        grant_record_change(grant=grant, before=before, actor=actor, reason=reason)
        record_event(
            Action.GRANT_CHANGED,
            actor_type=_actor_type(actor, grant),
            actor_user=actor,
            grant=grant,
            reason=reason,
            metadata={"removed_scopes": sorted(set(before["scopes"]) - set(after["scopes"]))},
        )
    return grant


def grant_approve(
    *,
    user,
    app,
    plan: ApprovalPlan,
    resources: Mapping[str, list[dict]],
    duration: str,
    request=None,
    now: datetime | None = None,
) -> Grant:
    """Record what the person approved on the consent screen. The grant grows, never shrinks.

    ``plan`` comes from :func:`consent.approval_plan.resolve_approval`; ``resources`` maps each newly
    added scope to the resources the person selected (already checked against the provider's
    list). A grant that had expired or been revoked starts again from what was approved now.
    """
    now = now or timezone.now()
    expires_at = grant_expiry(duration, now=now, session_window=settings.SESSION_GRANT_WINDOW)
    with transaction.atomic():
        grant, created = Grant.objects.select_for_update().get_or_create(
            user=user, app=app, defaults={"created_at": now, "updated_at": now}
        )
        before = grant_snapshot(grant)
        was_live = not created and grant.is_live(now)
        if was_live:
            scopes = list(grant.scopes)
            connections = dict(grant.connections)
            kept_resources = {k: list(v) for k, v in grant.resources.items()}
            declined = set(grant.declined_scopes or ())
        else:
            scopes, connections, kept_resources, declined = [], {}, {}, set()
        for name in plan.token_scopes:
            if name not in scopes:
                scopes.append(name)
        connections.update(plan.connections)
        for name in plan.added:
            if CATALOG[name].resource_kind:
                kept_resources[name] = [
                    {"id": str(r["id"]), "label": str(r.get("label") or r["id"])}
                    for r in resources.get(name, [])
                ]
        grant.scopes = scopes
        grant.declined_scopes = sorted((declined | set(plan.declined)) - set(scopes))
        grant.connections = connections
        grant.resources = kept_resources
        grant.duration = duration
        grant.expires_at = expires_at
        grant.revoked_at = None
        grant.revoke_reason = ""
        grant.expired_at = None
        grant.updated_at = now
        grant.save()
        grant_record_change(
            grant=grant, before=before, actor=user, reason="Approved on the consent screen"
        )
        record_event(
            Action.CONSENT_GRANTED,
            actor_type=ActorType.PERSON,
            actor_user=user,
            grant=grant,
            request=request,
            metadata={
                "added_scopes": list(plan.added),
                "declined_scopes": list(plan.declined),
                "duration": duration,
                "background": BACKGROUND_SCOPE in scopes,
                "incremental": was_live,
            },
        )
        if was_live and plan.added:
            record_event(
                Action.GRANT_CHANGED,
                actor_type=ActorType.PERSON,
                actor_user=user,
                grant=grant,
                request=request,
                reason="Grew on the consent screen",
                metadata={"added_scopes": list(plan.added)},
            )
    return grant


def consent_record_shown(*, user, app, scopes: list[str], new: list[str], request=None) -> None:
    record_event(
        Action.CONSENT_SHOWN,
        actor_type=ActorType.PERSON,
        actor_user=user,
        subject_user=user,
        app=app,
        request=request,
        outcome=Outcome.PENDING,
        metadata={"requested_scopes": scopes, "new_scopes": new},
    )


def consent_record_denied(*, user, app, scopes: list[str], request=None) -> None:
    grant = Grant.objects.filter(user=user, app=app).first()
    record_event(
        Action.CONSENT_DENIED,
        actor_type=ActorType.PERSON,
        actor_user=user,
        subject_user=user,
        app=app,
        grant=grant,
        request=request,
        outcome=Outcome.DENIED,
        metadata={"requested_scopes": scopes},
    )


def grants_drop_connection(*, connection) -> list[Grant]:
    """A connection was disconnected: grants that used it lose it (and its selected resources)."""
    changed = []
    with transaction.atomic():
        grants = Grant.objects.select_for_update().filter(user_id=connection.user_id)
        for grant in grants:
            services = [s for s, cid in grant.connections.items() if cid == connection.pk]
            if not services:
                continue
            before = grant_snapshot(grant)
            grant.connections = {
                s: cid for s, cid in grant.connections.items() if cid != connection.pk
            }
            grant.resources = {
                scope: items
                for scope, items in grant.resources.items()
                if scope not in CATALOG or CATALOG[scope].service not in services
            }
            grant.updated_at = timezone.now()
            grant.save(update_fields=["connections", "resources", "updated_at"])
            reason = f"The {connection.provider} connection it used was disconnected"
            grant_record_change(grant=grant, before=before, reason=reason)
            record_event(
                Action.GRANT_CHANGED,
                actor_type=ActorType.SYSTEM,
                grant=grant,
                service=services[0],
                reason=reason,
                metadata={"connection": connection.pk, "services": services},
            )
            changed.append(grant)
    return changed


def grants_expire(*, now: datetime | None = None) -> int:
    """End every grant past its expiry that has not been processed yet. Returns how many."""
    now = now or timezone.now()
    done = 0
    due = Grant.objects.filter(
        expires_at__lte=now, revoked_at__isnull=True, expired_at__isnull=True
    ).values_list("pk", flat=True)
    for pk in list(due):
        with transaction.atomic():
            grant = (
                Grant.objects.select_for_update()
                .select_related("app__client")
                .filter(pk=pk, expired_at__isnull=True, revoked_at__isnull=True)
                .first()
            )
            if grant is None or grant.expires_at is None or grant.expires_at > now:
                continue
            before = grant_snapshot(grant)
            grant.expired_at = now
            grant.save(update_fields=["expired_at"])
            _end_tokens(grant, now=now)
            grant_record_change(grant=grant, before=before, reason="Expired")
            record_event(
                Action.GRANT_EXPIRED,
                actor_type=ActorType.SYSTEM,
                grant=grant,
                reason=f"Approved for {grant.get_duration_display().lower()}",
            )
            done += 1
    return done


def pending_actions_expire(*, now: datetime | None = None) -> int:
    """The beat sweep: created actions past their time become expired (consent.pending)."""
    return pending.expire_due(now=now)


def ended_grant_tokens_forget(*, now: datetime | None = None) -> int:
    """Forget the checksums of ended grants' tokens once those tokens would have expired."""
    deleted, _ = EndedGrantToken.objects.filter(forget_after__lte=now or timezone.now()).delete()
    return deleted


def pending_action_approve(
    *, action_id: int, user, request=None, similar_for_24h: bool = False
) -> PendingAction:
    """The person approves a held write; the broker performs it once the approval commits.
    ``similar_for_24h`` also approves later writes of the same operation on the same resource
    by the same app for 24 hours (``consent.pending.standing_for``)."""
    return pending.decide(
        action_id=action_id,
        user=user,
        approve=True,
        request=request,
        similar_for_24h=similar_for_24h,
    )


def standing_approval_end(*, approval_id: int, user, request=None):
    return pending.standing_end(approval_id=approval_id, user=user, request=request)


def pending_action_reject(*, action_id: int, user, request=None) -> PendingAction:
    return pending.decide(action_id=action_id, user=user, approve=False, request=request)
