"""Background jobs: "may job J run for grant G now?" for an app's backend, and the recheck that
marks jobs whose grant lost the permission."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.actions import Action, ActorType, Outcome
from audit.services import record_event
from broker import exceptions
from broker.models import BackgroundJob
from broker.policy import check_job
from broker.ratelimit import limit_call
from broker.selectors import grant_facts, grant_for_client
from broker.tokens import token_authenticate


def job_check(*, request, job_id: str, grant_id: int, scopes: list[str]) -> dict:
    """``may job J run for grant G with these scopes now?`` for an app backend (client
    credentials). Registers or updates the job, records the check, returns allow/deny + reason."""
    token = token_authenticate(request=request)
    if token.user_id is not None:
        raise exceptions.InvalidToken(
            "Job checks are made by the app's backend with a client-credentials token."
        )
    app = token.app
    limit_call(app_id=app.pk)
    grant = grant_for_client(grant_id=grant_id, app_id=app.pk)
    if grant is not None:
        grant.app = app
    now = timezone.now()
    result = check_job(
        grant=grant_facts(grant) if grant is not None else None,
        scopes=frozenset(scopes),
        now=now,
    )
    if grant is not None:
        status = BackgroundJob.Status.ALLOWED if result.allowed else BackgroundJob.Status.DENIED
        with transaction.atomic():
            BackgroundJob.objects.update_or_create(
                grant=grant,
                job_id=job_id,
                defaults={
                    "scopes": sorted(set(scopes)),
                    "status": status,
                    "reason": result.reason,
                    "last_checked_at": now,
                },
            )
    record_event(
        Action.BACKGROUND_JOB_CHECKED,
        actor_type=ActorType.APP,
        app=app,
        grant=grant,
        outcome=Outcome.SUCCESS if result.allowed else Outcome.DENIED,
        reason=result.reason,
        background=True,
        request=request,
        metadata={"job": job_id[:200], "scopes": sorted(set(scopes))[:20]},
    )
    return {
        "job": job_id,
        "grant": grant_id,
        "allowed": result.allowed,
        "decision": "allow" if result.allowed else "deny",
        "reason": result.reason,
        "checked_at": now.isoformat(),
    }


def background_jobs_recheck(*, batch_size: int = 500) -> int:
    """Recheck every job that is still allowed; mark those that lost permission. Returns how
    many were marked."""
    marked = 0
    now = timezone.now()
    jobs = (
        BackgroundJob.objects.filter(status=BackgroundJob.Status.ALLOWED)
        .select_related("grant__app", "grant__user")
        .order_by("pk")
    )
    for job in jobs.iterator(chunk_size=batch_size):
        result = check_job(grant=grant_facts(job.grant), scopes=frozenset(job.scopes), now=now)
        if result.allowed:
            BackgroundJob.objects.filter(pk=job.pk).update(last_checked_at=now)
            continue
        with transaction.atomic():
            updated = BackgroundJob.objects.filter(
                pk=job.pk, status=BackgroundJob.Status.ALLOWED
            ).update(status=BackgroundJob.Status.DENIED, reason=result.reason, last_checked_at=now)
            if updated:
                marked += 1
                record_event(
                    Action.BACKGROUND_JOB_LOST_PERMISSION,
                    grant=job.grant,
                    outcome=Outcome.DENIED,
                    reason=result.reason,
                    background=True,
                    metadata={"job": job.job_id},
                )
    return marked
