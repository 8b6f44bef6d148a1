from django.db import models
from django.utils import timezone


class BackgroundJob(models.Model):
    """A job an app's backend runs for a grant while the person is away; rechecked periodically."""

    class Status(models.TextChoices):
        ALLOWED = "allowed", "Allowed"
        DENIED = "denied", "Lost permission"

    grant = models.ForeignKey(
        "consent.Grant", on_delete=models.CASCADE, related_name="background_jobs"
    )
    job_id = models.CharField(max_length=200)
    scopes = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.ALLOWED, db_index=True
    )
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_checked_at"]
        constraints = [
            models.UniqueConstraint(fields=["grant", "job_id"], name="one_job_id_per_grant")
        ]

    def __str__(self):
        return f"job {self.job_id} for grant {self.grant_id} ({self.status})"
