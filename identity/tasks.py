from celery import shared_task
from django.utils import timezone

from identity.models import Heartbeat


@shared_task(name="identity.tasks.heartbeat", ignore_result=True)
def heartbeat():
    Heartbeat.objects.update_or_create(name="worker", defaults={"seen_at": timezone.now()})
