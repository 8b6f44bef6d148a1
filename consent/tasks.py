"""Beat tasks: thin wrappers around the services."""

from celery import shared_task

from consent import services


@shared_task(name="consent.tasks.expire_grants")
def expire_grants() -> int:
    return services.grants_expire()


@shared_task(name="consent.tasks.expire_pending_actions")
def expire_pending_actions() -> int:
    return services.pending_actions_expire()
