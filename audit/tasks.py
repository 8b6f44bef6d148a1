"""Beat tasks of the audit log (thin: the work is in audit.chain)."""

import datetime as dt
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from audit.chain import archive_before


@shared_task(name="audit.tasks.apply_retention")
def apply_retention() -> int:
    """Archive (then remove) events older than AUDIT_RETENTION_DAYS; 0 keeps everything."""
    days = settings.AUDIT_RETENTION_DAYS
    if not days:
        return 0
    now = timezone.now()
    before = now - dt.timedelta(days=days)
    path = Path(settings.AUDIT_ARCHIVE_DIR) / f"audit-before-{before:%Y%m%dT%H%M%SZ}.jsonl"
    result = archive_before(
        before=before, path=path, reason=f"Retention: events older than {days} days"
    )
    return result.count
