import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils import timezone
from oauth2_provider.models import AbstractApplication
from oauth2_provider.settings import oauth2_settings


class Publisher(models.Model):
    """The developer account or organisation that owns apps."""

    name = models.CharField(max_length=150)
    website = models.URLField(blank=True)
    # None for the publisher of clients that registered themselves (RFC 7591, Client ID Metadata
    # Documents): nobody's developer account stands behind them.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="owned_publishers",
        null=True,
        blank=True,
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="publishers"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


def is_loopback_host(host: str | None) -> bool:
    """True for an IP literal on the loopback interface (127.0.0.0/8, ::1); names don't count."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OAuthClient(AbstractApplication):
    """django-oauth-toolkit's client, swapped in so one client can use both the authorization
    code grant (people) and client credentials (the app's backend, if confidential)."""

    allow_client_credentials = models.BooleanField(default=False)
    # After a rotation the previous secret (hashed like the current one) stays valid until
    # ``previous_client_secret_expires_at`` so that deployments can roll.
    previous_client_secret = models.CharField(max_length=255, blank=True, default="")
    previous_client_secret_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        # Django would derive "o auth client" from the class name.
        verbose_name = "OAuth client"
        verbose_name_plural = "OAuth clients"

    def is_usable(self, request):
        """A client is usable only through a registered, unsuspended App: an orphan client
        would otherwise see the whole scope catalog, and a suspended app gets nothing."""
        app = getattr(self, "app", None) if self.pk else None
        return app is not None and not app.is_suspended

    def redirect_uri_allowed(self, uri):
        # http is only ever for loopback redirects of native and CLI apps (RFC 8252 7.3), even
        # if a non-loopback http URI reached the database some other way (the admin, say). Not
        # "localhost", even in debug: a name can resolve elsewhere (RFC 8252 8.3).
        parts = urlsplit(uri)
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            return False
        return super().redirect_uri_allowed(uri)

    def get_allowed_schemes(self):
        # The final redirect may use http because redirect_uri_allowed() admits http only for
        # loopback addresses; DOT's global ALLOWED_REDIRECT_URI_SCHEMES is https-only in production.
        return ["https", "http"]

    def allows_grant_type(self, *grant_types):
        allowed = {self.GRANT_AUTHORIZATION_CODE}
        if self.allow_client_credentials and self.client_type == self.CLIENT_CONFIDENTIAL:
            allowed.add(self.GRANT_CLIENT_CREDENTIALS)
        return bool(allowed.intersection(grant_types))


class UsedAuthorizationCode(models.Model):
    """An authorization code that was exchanged, remembered (as a SHA-256 checksum, never the
    code) so that a replay can be refused and the tokens issued from it revoked (RFC 6749 4.1.2)."""

    code_checksum = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(OAuthClient, on_delete=models.CASCADE, related_name="+")
    token_family = models.UUIDField(null=True, blank=True)
    access_token_checksum = models.CharField(max_length=64, blank=True)
    used_at = models.DateTimeField(default=timezone.now)
    forget_after = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"code used at {self.used_at:%Y-%m-%d %H:%M:%S} by client #{self.client_id}"


class CodeWithoutRedirectUri(models.Model):
    """An authorization code whose authorization request named no ``redirect_uri``: only then
    may the token request leave it out (RFC 6749 4.1.3). Goes with its code."""

    grant = models.OneToOneField(
        oauth2_settings.GRANT_MODEL, on_delete=models.CASCADE, related_name="+"
    )

    def __str__(self):
        return f"code #{self.grant_id} without redirect_uri"


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

    @property
    def self_registered(self) -> bool:
        """Registered by the client itself (dynamic registration or a client ID metadata
        document), not by a developer: the consent screen says so."""
        return self.client.registration_source != OAuthClient.RegistrationSource.MANUAL


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
