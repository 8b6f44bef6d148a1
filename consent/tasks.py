"""Beat tasks: thin wrappers around the services."""

from celery import shared_task
from django.conf import settings

from consent import pending, services


@shared_task(name="consent.tasks.expire_grants")
def expire_grants() -> int:
    return services.grants_expire()


@shared_task(name="consent.tasks.expire_pending_actions")
def expire_pending_actions() -> int:
    return services.pending_actions_expire()


@shared_task(name="consent.tasks.strand_stuck_actions")
def strand_stuck_actions() -> int:
    """Approved writes whose worker died after claiming them become *outcome_unknown*, shown to
    the person as "check at the provider"; never silently stuck, never retried."""
    return pending.strand(older_than=settings.CONSENT_STRANDED_AFTER)


@shared_task(name="consent.tasks.forget_ended_grant_tokens")
def forget_ended_grant_tokens() -> int:
    return services.ended_grant_tokens_forget()
