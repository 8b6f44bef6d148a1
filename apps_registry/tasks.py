"""Beat tasks: thin wrappers around the services."""

from celery import shared_task

from apps_registry import services


@shared_task(name="apps_registry.tasks.forget_used_codes")
def forget_used_codes() -> int:
    return services.used_codes_forget()
