"""Who the client is: credentials (HTTP Basic or the body, one of them), the client with its app
and the app's scopes, secret checks (the previous secret during its grace period), suspension,
Client ID Metadata Document clients, and the per-client budget once a secret checked out.

:class:`ClientAuthentication` is one part of ``apps_registry.oauth.PlatformOAuth2Validator``.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

from django.conf import settings
from django.contrib.auth.hashers import check_password, identify_hasher
from django.utils import timezone
from oauth2_provider.cimd import is_cimd_client_id, refresh_if_stale
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors

from apps_registry.hashers import checksum
from apps_registry.ratelimit import limiter
from apps_registry.selectors import client_with_app
from apps_registry.self_registration import self_registered_app_ensure


def parse_client_credentials(request) -> tuple[str | None, str | None, str | None]:
    """Return ``(client_id, client_secret, method)`` from an oauthlib request, where method is
    ``"basic"``, ``"post"`` or ``None``. More than one method in one request (RFC 6749 2.3:
    "MUST NOT") or a malformed header raises ``InvalidClientError``."""
    header = request.headers.get("HTTP_AUTHORIZATION") or request.headers.get("Authorization")
    body_secret = getattr(request, "client_secret", None)
    body_client_id = getattr(request, "client_id", None)
    if header:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "basic":
            return body_client_id, body_secret, ("post" if body_secret else None)
        if body_secret:
            raise errors.InvalidClientError(
                request=request, description="Use one client authentication method, not two."
            )
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
            raw_id, raw_secret = decoded.split(":", 1)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise errors.InvalidClientError(
                request=request, description="Malformed Basic credentials."
            ) from None
        # RFC 6749 2.3.1: both are form-urlencoded before being put in the header.
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if body_client_id and body_client_id != client_id:
            raise errors.InvalidClientError(
                request=request, description="client_id differs from the authenticated client."
            )
        return client_id, secret, "basic"
    if body_secret:
        return body_client_id, body_secret, "post"
    return body_client_id, None, None


class ClientRateLimited(errors.OAuth2Error):
    """An authenticated client used up its budget (RFC 6749 has no code for it; 429 + Retry-After)."""

    error = "temporarily_unavailable"
    status_code = 429

    def __init__(self, retry_after: int, request=None):
        super().__init__(
            description=f"Too many requests. Retry after {retry_after} seconds.", request=request
        )
        self.retry_after = retry_after

    @property
    def headers(self):
        return {"Retry-After": str(self.retry_after)}


def count_authenticated_client(client_id: str, request=None) -> None:
    """Spend one request of a client's budget, only once its secret checked out (a request
    with a wrong secret is counted apart, per address and client: apps_registry.oauth_views)."""
    verdict = limiter.hit(
        f"client:{checksum(client_id)}",
        limit=settings.OAUTH_RATE_LIMIT_PER_CLIENT,
        window=settings.OAUTH_RATE_LIMIT_WINDOW_SECONDS,
    )
    if not verdict.allowed:
        raise ClientRateLimited(verdict.retry_after, request=request)


class ClientAuthentication:
    """The client rules of the validator (a mixin before DOT's ``OAuth2Validator``)."""

    def client_is_usable(self, client) -> bool:
        """A suspended app (or a client without an app) authenticates nothing."""
        return client.is_usable(None)

    def _load_application(self, client_id, request):
        if not request.client and client_id:
            # The client, its app and the app's scopes in one statement, instead of three
            # queries (client; app for is_usable; scopes for validate_scopes). DOT's own lookup
            # below then finds it on the request; an unknown id falls through to it.
            request.client = client_with_app(client_id)
        client = super()._load_application(client_id, request)
        if client is not None and client.registration_source == client.RegistrationSource.CIMD:
            # DOT re-fetches a stale metadata document only when it loads the client itself;
            # the one-query lookup above hands it a loaded client, so ask here.
            refreshed = refresh_if_stale(client, request=request)
            if refreshed is not client:
                client = get_application_model().objects.select_related("app").get(pk=client.pk)
                request.client = client
        if client is None and oauth2_settings.CIMD_ENABLED and is_cimd_client_id(client_id):
            client = self._first_sight_of_cimd_client(client_id, request)
        elif (
            client is not None
            and client.registration_source == client.RegistrationSource.CIMD
            and client.name
            and client.app.name != client.name[:100]
        ):
            # The document was fetched again (its cache expired) and renamed the client.
            client.app = self_registered_app_ensure(client=client, request=request)
        if client is not None and not self.client_is_usable(client):
            request.client = None
            return None
        return client

    def _first_sight_of_cimd_client(self, client_id, request):
        """django-oauth-toolkit fetched the client's metadata document and stored the client,
        then refused it: it has no App yet. Give it one ("registered by the client itself")."""
        Client = get_application_model()
        client = Client.objects.filter(
            client_id=client_id, registration_source=Client.RegistrationSource.CIMD
        ).first()
        if client is None or hasattr(client, "app"):
            return None
        self_registered_app_ensure(client=client, request=request)
        client = Client.objects.select_related("app").get(pk=client.pk)
        request.client = client
        return client

    def _check_secret(self, provided_secret, stored_secret):
        # DOT compares an unhashed stored secret in plaintext: an empty stored secret (public
        # clients) would then match an empty guess. Only hashed secrets are accepted here.
        if not provided_secret or not stored_secret:
            return False
        try:
            identify_hasher(stored_secret)
        except ValueError:
            return False
        return check_password(provided_secret, stored_secret)

    def check_client_secret(self, client, provided_secret: str) -> bool:
        """The current secret, or the previous one while its grace period lasts."""
        if self._check_secret(provided_secret, client.client_secret):
            return True
        expires = client.previous_client_secret_expires_at
        if client.previous_client_secret and expires and expires > timezone.now():
            return self._check_secret(provided_secret, client.previous_client_secret)
        return False

    def client_authentication_required(self, request, *args, **kwargs):
        _client_id, _secret, method = parse_client_credentials(request)
        if method is not None:
            return True
        return super().client_authentication_required(request, *args, **kwargs)

    def authenticate_client(self, request, *args, **kwargs):
        """RFC 6749 2.3.1: HTTP Basic (preferred) or ``client_secret`` in the body, one of them."""
        client_id, secret, method = parse_client_credentials(request)
        if method is None or not client_id:
            return False
        if self._load_application(client_id, request) is None:
            return False
        if not self.check_client_secret(request.client, secret):
            return False
        request.client_id = client_id
        count_authenticated_client(client_id, request)
        return True

    def authenticate_client_id(self, client_id, request, *args, **kwargs):
        if self._load_application(client_id, request) is None:
            return False
        return request.client.client_type == get_application_model().CLIENT_PUBLIC
