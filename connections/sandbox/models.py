"""The sandbox provider's own state: demo accounts, their data, and the OAuth server's grants.

The sandbox is a real (small) provider that ships with the platform for the demo and the tests.
Tokens are stored only as SHA-256 digests, as a careful provider would.
"""

from __future__ import annotations

import hashlib

from django.db import models
from django.utils import timezone

FLAVOURS = (
    ("sandbox_github", "Sandbox GitHub"),
    ("sandbox_slack", "Sandbox Slack"),
    ("sandbox_google", "Sandbox Google"),
)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class SandboxAccount(models.Model):
    flavour = models.CharField(max_length=32, choices=FLAVOURS)
    uid = models.CharField(max_length=64)
    login = models.CharField(max_length=100)
    name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)

    class Meta:
        app_label = "connections"
        unique_together = [("flavour", "uid")]
        ordering = ["flavour", "login"]

    def __str__(self):
        return f"{self.flavour}:{self.login}"


class SandboxConsent(models.Model):
    """Scopes an account has granted a client so far (the authorize page shows only the delta)."""

    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE)
    client_id = models.CharField(max_length=100)
    scopes = models.JSONField(default=list)

    class Meta:
        app_label = "connections"
        unique_together = [("account", "client_id")]

    def __str__(self):
        return f"{self._meta.verbose_name} #{self.pk}"


class SandboxAuthorizationCode(models.Model):
    code_digest = models.CharField(max_length=64, unique=True)
    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE)
    client_id = models.CharField(max_length=100)
    redirect_uri = models.TextField()
    scopes = models.JSONField(default=list)
    code_challenge = models.CharField(max_length=128)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "connections"

    def __str__(self):
        return f"{self._meta.verbose_name} #{self.pk}"


class SandboxToken(models.Model):
    class Kind(models.TextChoices):
        ACCESS = "access"
        REFRESH = "refresh"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    token_digest = models.CharField(max_length=64, unique=True)
    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE)
    client_id = models.CharField(max_length=100)
    scopes = models.JSONField(default=list)
    # All tokens descending from one authorization code share a family (revoked together).
    family = models.CharField(max_length=32, db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "connections"

    def __str__(self):
        return f"{self._meta.verbose_name} #{self.pk}"

    @property
    def usable(self) -> bool:
        now = timezone.now()
        return (
            self.revoked_at is None
            and self.rotated_at is None
            and (self.expires_at is None or self.expires_at > now)
        )


class SandboxTokenRequest(models.Model):
    """Every call to the sandbox token and revocation endpoints, as the provider saw it."""

    endpoint = models.CharField(max_length=20)  # token / revoke
    grant_type = models.CharField(max_length=40, blank=True)
    client_id = models.CharField(max_length=100, blank=True)
    outcome = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "connections"

    def __str__(self):
        return f"{self._meta.verbose_name} #{self.pk}"


class SandboxRepo(models.Model):
    gh_id = models.PositiveIntegerField(unique=True)
    owner = models.CharField(max_length=100)
    name = models.CharField(max_length=100)
    private = models.BooleanField(default=False)
    description = models.CharField(max_length=300, blank=True)
    default_branch = models.CharField(max_length=50, default="main")
    members = models.ManyToManyField(SandboxAccount, related_name="repos")

    class Meta:
        app_label = "connections"
        ordering = ["owner", "name"]

    def __str__(self):
        return f"{self._meta.verbose_name} #{self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class SandboxOrg(models.Model):
    gh_id = models.PositiveIntegerField(unique=True)
    login = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    members = models.ManyToManyField(SandboxAccount, related_name="orgs")

    class Meta:
        app_label = "connections"

    def __str__(self):
        return f"{self._meta.verbose_name} #{self.pk}"


class SandboxFile(models.Model):
    repo = models.ForeignKey(SandboxRepo, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=300)
    content = models.TextField()

    class Meta:
        app_label = "connections"
        unique_together = [("repo", "path")]

    def __str__(self):
        return f"{self._meta.verbose_name} #{self.pk}"


class SandboxIssue(models.Model):
    gh_id = models.PositiveIntegerField(unique=True)
    repo = models.ForeignKey(SandboxRepo, on_delete=models.CASCADE, related_name="issues")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    state = models.CharField(max_length=10, default="open")
    author = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "connections"
        unique_together = [("repo", "number")]
        ordering = ["-number"]

    def __str__(self):
        return f"{self._meta.verbose_name} #{self.pk}"


class SandboxIssueComment(models.Model):
    issue = models.ForeignKey(SandboxIssue, on_delete=models.CASCADE, related_name="comments")
    body = models.TextField()
    author = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "connections"

    def __str__(self):
        return f"{self._meta.verbose_name} #{self.pk}"


class SandboxChannel(models.Model):
    channel_id = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=80)
    is_private = models.BooleanField(default=False)
    topic = models.CharField(max_length=200, blank=True)
    members = models.ManyToManyField(SandboxAccount, related_name="channels")

    class Meta:
        app_label = "connections"
        ordering = ["name"]

    def __str__(self):
        return f"{self._meta.verbose_name} #{self.pk}"


class SandboxMessage(models.Model):
    channel = models.ForeignKey(SandboxChannel, on_delete=models.CASCADE, related_name="messages")
    ts = models.CharField(max_length=32)
    author = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE)
    text = models.TextField()

    class Meta:
        app_label = "connections"
        ordering = ["-ts"]

    def __str__(self):
        return f"{self._meta.verbose_name} #{self.pk}"


class SandboxDriveFile(models.Model):
    FOLDER = "application/vnd.google-apps.folder"

    file_id = models.CharField(max_length=64, unique=True)
    owner = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="drive_files")
    name = models.CharField(max_length=200)
    mime_type = models.CharField(max_length=100)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    content = models.BinaryField(default=bytes)
    modified_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "connections"
        ordering = ["name"]

    def __str__(self):
        return f"{self._meta.verbose_name} #{self.pk}"

    @property
    def is_folder(self) -> bool:
        return self.mime_type == self.FOLDER


class SandboxSwitch(models.Model):
    """A fault the sandbox should play (tests flip these): e.g. ``token_endpoint_status=503``."""

    name = models.CharField(max_length=50, unique=True)
    value = models.CharField(max_length=100)

    class Meta:
        app_label = "connections"

    def __str__(self):
        return f"{self._meta.verbose_name} #{self.pk}"

    @classmethod
    def get(cls, name: str) -> str | None:
        return cls.objects.filter(name=name).values_list("value", flat=True).first()
