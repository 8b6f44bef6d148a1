from django.conf import settings
from django.db import models
from django.utils import timezone

from connections import vault
from connections.vault import EncryptedTextField


class Connection(models.Model):
    """One external account a person connected (a person may connect two GitHub accounts).

    The vault part (``access_token``, ``refresh_token``) is encrypted at rest and never leaves this
    app except in the outbound provider call: see ``connections.services.get_valid_access_token``.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NEEDS_REAUTH = "needs_reauth", "Needs re-authorization"
        REVOKED = "revoked", "Revoked"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connections"
    )
    provider = models.CharField(max_length=32, db_index=True)
    provider_account_id = models.CharField(max_length=255)
    login = models.CharField(max_length=255, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    scopes = models.JSONField(
        default=list, blank=True, help_text="Provider scopes actually granted."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=500, blank=True)
    social_account = models.OneToOneField(
        "socialaccount.SocialAccount",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="connection",
    )

    access_token = EncryptedTextField(null=True, blank=True)
    refresh_token = EncryptedTextField(null=True, blank=True)
    token_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    token_key_id = models.CharField(max_length=16, blank=True, db_index=True)
    refresh_failures = models.PositiveIntegerField(default=0)
    next_refresh_attempt_at = models.DateTimeField(null=True, blank=True)
    # The refresh lease (connections/refresh.py): who is refreshing now, and until when. Taken and
    # given back in short transactions, so no transaction stays open during the provider call.
    refresh_lease_id = models.CharField(max_length=32, blank=True)
    refresh_lease_until = models.DateTimeField(null=True, blank=True)
    # The current access token was refreshed once and the provider still answered 401: the next
    # 401 on it is reported (502) instead of rotating the refresh token on every call.
    token_rejected_at = models.DateTimeField(null=True, blank=True)
    # Consecutive brokered calls that failed at the provider (timeouts, 5xx, rejected tokens) and
    # the last reason, for "needs attention" on the connections page and Your access.
    call_failures = models.PositiveIntegerField(default=0)
    last_failure_reason = models.CharField(max_length=500, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["provider", "login"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_account_id", "user"],
                condition=~models.Q(status="revoked"),
                name="one_live_connection_per_account",
            )
        ]

    def __str__(self):
        return f"{self.provider}:{self.login or self.provider_account_id}"

    def save(self, *args, **kwargs):
        # Every save re-encrypts the token columns under the first key: record which one, so that
        # rotation progress can be counted (vault_reencrypt) and has_token answers without
        # decrypting anything.
        self.token_key_id = (
            vault.current_key_id() if (self.access_token or self.refresh_token) else ""
        )
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"access_token", "refresh_token"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "token_key_id"}
        super().save(*args, **kwargs)

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def needs_attention(self) -> bool:
        """Active, but its refreshes or its calls keep failing (the person should look)."""
        after = settings.CONNECTION_ATTENTION_AFTER_FAILURES
        return self.is_active and (self.refresh_failures >= after or self.call_failures >= after)

    @property
    def attention_reason(self) -> str:
        if not self.needs_attention:
            return ""
        return self.last_failure_reason or "Calls to this service keep failing."

    @property
    def display_status(self) -> str:
        """What people see: "Needs attention" for an active connection that keeps failing."""
        return "Needs attention" if self.needs_attention else self.get_status_display()

    @property
    def display_reason(self) -> str:
        return self.attention_reason or self.status_reason

    @property
    def has_token(self) -> bool:
        return self.token_key_id != ""


# The sandbox provider's models live with it; imported here so Django registers them.
from connections.sandbox.models import (  # noqa: E402, F401
    SandboxAccount,
    SandboxAuthorizationCode,
    SandboxChannel,
    SandboxConsent,
    SandboxDriveFile,
    SandboxFile,
    SandboxIssue,
    SandboxIssueComment,
    SandboxMessage,
    SandboxOrg,
    SandboxRepo,
    SandboxSwitch,
    SandboxToken,
    SandboxTokenRequest,
)
