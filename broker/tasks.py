"""Celery tasks: thin wrappers over broker.services."""

from celery import shared_task

from broker import services


@shared_task(name="broker.perform_pending_action", acks_late=True)
def perform_pending_action(action_id: int) -> str:
    """Perform an approved pending action; safe to run twice (the service claims it once)."""
    return services.pending_action_perform(action_id=action_id)


@shared_task(name="broker.recheck_background_jobs")
def recheck_background_jobs() -> int:
    return services.background_jobs_recheck()
