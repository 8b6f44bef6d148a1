from django.conf import settings
from django.db import models
from django.utils import timezone
from oauth2_provider.models import AbstractApplication


class Publisher(models.Model):
    """The developer account or organisation that owns apps."""

    name = models.CharField(max_length=150)
    website = models.URLField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_publishers"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="publishers"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class OAuthClient(AbstractApplication):
    """django-oauth-toolkit's client, swapped in so one client can use both the authorization
    code grant (people) and client credentials (the app's backend, if confidential)."""

    allow_client_credentials = models.BooleanField(default=False)

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"

    def allows_grant_type(self, *grant_types):
        allowed = {self.GRANT_AUTHORIZATION_CODE}
        if self.allow_client_credentials and self.client_type == self.CLIENT_CONFIDENTIAL:
            allowed.add(self.GRANT_CLIENT_CREDENTIALS)
        return bool(allowed.intersection(grant_types))


class App(models.Model):
    """A third-party app or agent, as people see it on the consent screen."""

    client = models.OneToOneField(OAuthClient, on_delete=models.CASCADE, related_name="app")
    publisher = models.ForeignKey(Publisher, on_delete=models.PROTECT, related_name="apps")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    homepage_url = models.URLField(blank=True)
    logo_url = models.URLField(blank=True)
    privacy_policy_url = models.URLField(blank=True)
    terms_url = models.URLField(blank=True)
    contact_email = models.EmailField(blank=True)
    verified = models.BooleanField(default=False, help_text="Only staff can set this.")
    may_request_background = models.BooleanField(default=False)
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspension_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None


class AppScope(models.Model):
    """A platform scope an app may request, and whether it is required or optional."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="allowed_scopes")
    scope = models.CharField(max_length=100)
    required = models.BooleanField(default=True)

    class Meta:
        ordering = ["scope"]
        constraints = [
            models.UniqueConstraint(fields=["app", "scope"], name="one_entry_per_app_scope")
        ]

    def __str__(self):
        return f"{self.scope} ({'required' if self.required else 'optional'})"
