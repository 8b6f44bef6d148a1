"""Writes to grants. Each service changes the grant inside a transaction, records the change
(before and after) and the audit event. Views, the dashboard and the admin only call these."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.actions import Action, ActorType
from audit.services import record_event
from consent.models import Grant, GrantChange


def grant_snapshot(grant: Grant) -> dict:
    return {
        "scopes": sorted(grant.scopes),
        "connections": dict(grant.connections),
        "resources": {k: list(v) for k, v in grant.resources.items()},
        "duration": grant.duration,
        "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
        "revoked_at": grant.revoked_at.isoformat() if grant.revoked_at else None,
    }


def _actor_type(actor) -> ActorType:
    if actor is None:
        return ActorType.SYSTEM
    return (
        ActorType.STAFF
        if getattr(actor, "is_staff", False) and actor != getattr(actor, "_subject", None)
        else ActorType.PERSON
    )


def grant_record_change(*, grant: Grant, before: dict, actor=None, reason: str = "") -> GrantChange:
    return GrantChange.objects.create(
        grant=grant, actor=actor, reason=reason, before=before, after=grant_snapshot(grant)
    )


def grant_revoke(
    *, grant: Grant, actor=None, reason: str = "", actor_type: ActorType | None = None
) -> Grant:
    """Revoke the whole grant: every token issued under it stops working on its next call."""
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model

    with transaction.atomic():
        grant = Grant.objects.select_for_update().get(pk=grant.pk)
        if grant.revoked_at is not None:
            return grant
        before = grant_snapshot(grant)
        now = timezone.now()
        grant.revoked_at = now
        grant.revoke_reason = reason[:500]
        grant.updated_at = now
        grant.save(update_fields=["revoked_at", "revoke_reason", "updated_at"])
        # The broker refuses a revoked grant anyway; deleting the tokens also ends refresh.
        client = grant.app.client
        get_refresh_token_model().objects.filter(
            user=grant.user, application=client, revoked__isnull=True
        ).update(revoked=now)
        get_access_token_model().objects.filter(user=grant.user, application=client).delete()
        grant_record_change(grant=grant, before=before, actor=actor, reason=reason)
        record_event(
            Action.GRANT_REVOKED,
            actor_type=actor_type
            or (ActorType.PERSON if actor == grant.user else _actor_type(actor)),
            actor_user=actor,
            grant=grant,
            reason=reason,
        )
    return grant


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
    """
    with transaction.atomic():
        grant = Grant.objects.select_for_update().get(pk=grant.pk)
        before = grant_snapshot(grant)
        grant.scopes = [s for s in grant.scopes if s not in set(remove_scopes)]
        resources = {k: list(v) for k, v in grant.resources.items() if k in grant.scopes}
        for scope, ids in (remove_resources or {}).items():
            drop = set(ids)
            if scope in resources:
                resources[scope] = [r for r in resources[scope] if r["id"] not in drop]
        grant.resources = resources
        grant.updated_at = timezone.now()
        grant.save(update_fields=["scopes", "resources", "updated_at"])
        after = grant_snapshot(grant)
        if after == before:
            return grant
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
