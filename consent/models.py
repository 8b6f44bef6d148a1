from django.conf import settings
from django.db import models
from django.utils import timezone

from consent.catalog import BACKGROUND_SCOPE, UNATTENDED_WRITES_SCOPE


class Grant(models.Model):
    """What one person allowed one app to do. One grant per person and app; it grows and shrinks.

    ``connections`` maps a service id to the id of the connection the person picked for it.
    ``resources`` maps a scope name to the selected resources: ``[{"id": canonical id,
    "label": display_name}, ...]``; ids are in the provider's canonical form (see the broker).
    """

    class Duration(models.TextChoices):
        SESSION = "session", "This session only"
        HOUR = "1h", "1 hour"
        MONTH = "30d", "30 days"
        FOREVER = "forever", "Until I revoke it"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="grants"
    )
    app = models.ForeignKey("apps_registry.App", on_delete=models.CASCADE, related_name="grants")
    scopes = models.JSONField(default=list, blank=True)
    connections = models.JSONField(default=dict, blank=True)
    resources = models.JSONField(default=dict, blank=True)
    duration = models.CharField(max_length=10, choices=Duration.choices, default=Duration.FOREVER)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=500, blank=True)
    # Optional scopes the person declined: not asked again unless the app sends prompt=consent.
    declined_scopes = models.JSONField(default=list, blank=True)
    # Set by the expiry task once the grant's end has been processed (tokens ended, event recorded).
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "app"], name="one_grant_per_person_and_app")
        ]

    def __str__(self):
        return f"{self.user} -> {self.app}"

    @property
    def background(self) -> bool:
        return BACKGROUND_SCOPE in self.scopes

    @property
    def unattended_writes(self) -> bool:
        return UNATTENDED_WRITES_SCOPE in self.scopes

    def is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def selected_resources(self, scope: str) -> list[dict]:
        return list(self.resources.get(scope, []))


class GrantChange(models.Model):
    """Every change to a grant, with the state before and after."""

    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="changes")
    changed_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)

    class Meta:
        ordering = ["-changed_at"]

    def __str__(self):
        return f"change to {self.grant_id} at {self.changed_at:%Y-%m-%d %H:%M}"


class PendingAction(models.Model):
    """A write an app asked for that waits for the person's approval (unless unattended writes)."""

    class Status(models.TextChoices):
        # The states of consent.pending's machine; the values are what apps read on the API.
        CREATED = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved, waiting to be performed"
        PERFORMING = "performing", "Being performed"
        PERFORMED = "succeeded", "Performed"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"
        OUTCOME_UNKNOWN = "outcome_unknown", "Outcome unknown"

    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="pending_actions")
    operation = models.CharField(max_length=100)
    service = models.CharField(max_length=32)
    scope = models.CharField(max_length=100)
    resource = models.CharField(max_length=500, blank=True)
    summary = models.CharField(max_length=500)
    params = models.JSONField(default=dict, blank=True)
    body = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.CREATED, db_index=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    executed_at = models.DateTimeField(null=True, blank=True)
    result_status = models.PositiveIntegerField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    # The provider request exactly as the platform will send it (method, URL, body), shown on
    # the approvals page. Never holds a token: the Authorization header is added when sent.
    downstream = models.JSONField(default=dict, blank=True)
    # Set when a standing approval ("approve similar for 24 h") let this action through.
    standing_approval = models.ForeignKey(
        "StandingApproval",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="actions",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.operation} on {self.resource} ({self.status})"


class StandingApproval(models.Model):
    """ "Approve similar for 24 h": later writes of the same operation on the same resource by the
    same app (grant) are approved without asking, until ``expires_at`` or until ended early."""

    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="standing_approvals")
    operation = models.CharField(max_length=100)
    resource = models.CharField(max_length=500, blank=True)
    summary = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["grant", "operation", "resource"])]

    def __str__(self):
        return f"standing approval for {self.operation} on {self.resource}"

    def is_active(self, now) -> bool:
        return self.ended_at is None and self.expires_at > now


class EndedGrantToken(models.Model):
    """A platform access token deleted because its grant was revoked or expired, remembered (as
    the checksum the token table keeps, never the token) until it would have expired anyway, so
    that the broker can answer ``grant_revoked`` instead of a bare ``invalid_token``."""

    token_checksum = models.CharField(max_length=64, unique=True)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="+")
    forget_after = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"ended token of grant #{self.grant_id}"
