"""The platform's OAuth 2.0 rules on top of django-oauth-toolkit (RFC 6749, 7636, 9700).

``PlatformOAuth2Validator`` decides who is a client, how clients authenticate, which scopes a
client may ask for, PKCE, redirect URIs, refresh-token reuse and authorization-code replay.
``consent.oauth.GrantOAuth2Validator`` subclasses it (tokens follow the person's grant); each rule
is a small method so that a subclass can extend one without copying the others:

- :meth:`allowed_scopes` the scopes a client may request (catalog and the app's allowance),
- :meth:`client_is_usable` whether a client may authenticate at all (suspension),
- :meth:`on_token_issued`, :meth:`on_code_replayed`, :meth:`on_refresh_token_reused` hooks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from datetime import timedelta
from urllib.parse import unquote_plus

from django.conf import settings
from django.contrib.auth.hashers import check_password, identify_hasher
from django.db import transaction
from django.utils import timezone
from oauth2_provider.cimd import is_cimd_client_id, refresh_if_stale
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_refresh_token_model,
)
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors

from apps_registry.ratelimit import limiter
from apps_registry.self_registration import self_registered_app_ensure
from audit.actions import Action, ActorType, Outcome
from audit.services import record_event

log = logging.getLogger(__name__)

BACKGROUND_SCOPE = "agents.jobs.background"
# OpenID Connect's (and MCP clients') way of asking for a refresh token is the platform's
# background access: the same permission, shown to the person as such on the consent screen.
OFFLINE_ACCESS = "offline_access"
SCOPE_ALIASES = {OFFLINE_ACCESS: BACKGROUND_SCOPE}
# RFC 7636 4.1/4.2: a verifier and an S256 challenge use the unreserved characters only.
_PKCE_CHALLENGE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
SUPPORTED_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


def checksum(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def catalog_scope_names() -> set[str]:
    from oauth2_provider.scopes import get_scopes_backend

    return set(get_scopes_backend().get_all_scopes())


def canonical_scopes(scopes) -> list[str]:
    """Scopes with aliases (``offline_access``) replaced by the catalog scope they stand for."""
    return list(dict.fromkeys(SCOPE_ALIASES.get(s, s) for s in scopes or ()))


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


class PlatformOAuth2Validator(OAuth2Validator):
    # ---- clients ---------------------------------------------------------------------------
    def client_is_usable(self, client) -> bool:
        """A suspended app (or a client without an app) authenticates nothing."""
        return client.is_usable(None)

    def _load_application(self, client_id, request):
        if not request.client and client_id:
            # The client with its app in one query and the app's scopes in a second, instead of
            # three queries (client; app for is_usable; scopes for validate_scopes). DOT's own
            # lookup below then finds it on the request; an unknown id falls through to it.
            request.client = (
                get_application_model()
                .objects.select_related("app")
                .prefetch_related("app__allowed_scopes")
                .filter(client_id=client_id)
                .first()
            )
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

    # ---- grants and scopes -----------------------------------------------------------------
    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        if grant_type not in SUPPORTED_GRANT_TYPES:
            return False
        return super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs):
        # Authorization code only: no implicit, no hybrid (RFC 9700 2.1.2).
        return response_type == "code" and super().validate_response_type(
            client_id, response_type, client, request, *args, **kwargs
        )

    def validate_user(self, username, password, client, request, *args, **kwargs):
        # No resource owner password grant: never check a person's password here (oauthlib asks
        # before it checks the grant type, which would make this a password oracle).
        return False

    def allowed_scopes(self, client) -> set[str]:
        """Catalog scopes the app behind ``client`` may request (its AppScope rows)."""
        app = getattr(client, "app", None)
        if app is None:
            return set()
        allowed = {s.scope for s in app.allowed_scopes.all()} & catalog_scope_names()
        if not app.may_request_background:
            allowed.discard(BACKGROUND_SCOPE)
        return allowed

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        # ``offline_access`` is read as background access from here on (the request's scopes
        # are what oauthlib hands back to the authorization view). It only asks for a refresh
        # token, which the server may decline (MCP clients add it whenever metadata lists it):
        # for an app that may not act in the background it is dropped, not an error.
        allowed = self.allowed_scopes(client)
        scopes = list(scopes or ())
        if OFFLINE_ACCESS in scopes and BACKGROUND_SCOPE not in allowed:
            scopes = [s for s in scopes if s != OFFLINE_ACCESS]
        scopes = canonical_scopes(scopes)
        if getattr(request, "scopes", None) is not None:
            request.scopes = scopes
        return bool(scopes) and set(scopes) <= allowed

    # ---- RFC 8707: only the platform's own protected resources ---------------------------------
    def _check_and_set_request_resource(self, request):
        super()._check_and_set_request_resource(request)
        from apps_registry import audience

        code_resource = getattr(request, "_platform_code_resource", None)
        if request.grant_type == "authorization_code" and code_resource:
            # The code was claimed (deleted) atomically before django-oauth-toolkit looks it
            # up, so its narrowing rule is applied here: a token request may narrow the
            # code's audience, never widen it.
            widened = [r for r in request.resource if r not in code_resource]
            if widened:
                raise errors.CustomOAuth2Error(
                    error="invalid_target",
                    description=f"The resource {widened[0]!r} was not part of the authorization.",
                    request=request,
                )
            request.resource = request.resource or code_resource
        unknown = audience.unknown_resources(request.resource, request)
        if unknown:
            raise errors.CustomOAuth2Error(
                error="invalid_target",
                description=f"Unknown resource {unknown[0]!r}.",
                request=request,
            )

    def introspection_extra(self, access_token) -> dict:
        """More RFC 7662 members for an active access token (the consent layer adds the
        granted ``authorization_details``)."""
        return {}

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        app = getattr(request.client, "app", None)
        if app is None:
            return []
        allowed = self.allowed_scopes(request.client)
        return sorted(
            s.scope for s in app.allowed_scopes.all() if s.required and s.scope in allowed
        )

    # ---- PKCE --------------------------------------------------------------------------------
    def is_pkce_required(self, client_id, request):
        """PKCE with S256 for every client. ``plain``, a missing method (which RFC 7636 reads as
        ``plain``) and malformed challenges are refused at the authorization endpoint."""
        challenge = getattr(request, "code_challenge", None)
        if challenge is not None and getattr(request, "grant_type", None) is None:
            if getattr(request, "code_challenge_method", None) != "S256":
                raise errors.UnsupportedCodeChallengeMethodError(
                    request=request,
                    description='code_challenge_method must be "S256" ("plain" is not allowed).',
                )
            if not _PKCE_CHALLENGE.match(challenge):
                raise errors.InvalidRequestError(
                    request=request, description="code_challenge is malformed."
                )
        return True

    # ---- authorization codes: single use, replay revokes ---------------------------------------
    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        if super().validate_code(client_id, code, client, request, *args, **kwargs):
            return True
        from apps_registry.models import UsedAuthorizationCode

        used = UsedAuthorizationCode.objects.filter(
            code_checksum=checksum(code), client=client
        ).first()
        if used is not None:
            self.on_code_replayed(used, request)
        return False

    def on_code_replayed(self, used, request) -> None:
        """RFC 6749 4.1.2: refuse, and revoke the tokens issued from that code."""
        RefreshToken = get_refresh_token_model()
        AccessToken = get_access_token_model()
        with transaction.atomic():
            if used.token_family:
                RefreshToken.revoke_family(used.token_family)
            if used.access_token_checksum:
                AccessToken.objects.filter(token_checksum=used.access_token_checksum).delete()
            client = used.client
            record_event(
                Action.TOKEN_REVOKED,
                actor_type=ActorType.SYSTEM,
                app=getattr(client, "app", None),
                outcome=Outcome.DENIED,
                reason="An authorization code was used twice; the tokens issued from it are revoked.",
                metadata={"cause": "authorization_code_replayed"},
            )

    def _code_grant(self, code, request):
        """The stored code, looked up once per request. A code that vanished since
        ``validate_code`` was exchanged by a concurrent request: that is a replay too."""
        cached = getattr(request, "_platform_code_grant", None)
        if cached is not None and cached.code == code:
            return cached
        grant = get_grant_model().objects.filter(code=code, application=request.client).first()
        if grant is None:
            from apps_registry.models import UsedAuthorizationCode

            used = UsedAuthorizationCode.objects.filter(
                code_checksum=checksum(code), client=request.client
            ).first()
            if used is not None:
                self.on_code_replayed(used, request)
            raise errors.InvalidGrantError(request=request)
        request._platform_code_grant = grant
        return grant

    def get_code_challenge(self, code, request):
        return self._code_grant(code, request).code_challenge or None

    def get_code_challenge_method(self, code, request):
        return self._code_grant(code, request).code_challenge_method or None

    def save_authorization_code(self, client_id, code, request, *args, **kwargs):
        super().save_authorization_code(client_id, code, request, *args, **kwargs)
        # The consent view says whether the request named its redirect_uri; unknown counts as
        # named, so the token request then has to repeat it.
        if getattr(request, "redirect_uri_sent", True) is False:
            from apps_registry.models import CodeWithoutRedirectUri

            grant = get_grant_model().objects.get(code=code["code"], application=request.client)
            CodeWithoutRedirectUri.objects.create(grant=grant)

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *args, **kwargs):
        grant = self._code_grant(code, request)
        if getattr(request, "using_default_redirect_uri", False):
            # RFC 6749 4.1.3: redirect_uri is REQUIRED if the authorization request sent one.
            from apps_registry.models import CodeWithoutRedirectUri

            if not CodeWithoutRedirectUri.objects.filter(grant=grant).exists():
                return False
        return grant.redirect_uri_allowed(redirect_uri)

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        if getattr(request, "_platform_code_claimed", False):
            return  # already consumed atomically with the tokens (see _save_bearer_token)
        super().invalidate_authorization_code(client_id, code, request, *args, **kwargs)

    def _claim_authorization_code(self, request) -> None:
        # The code's RFC 8707 audience, read before the code goes: the token inherits it.
        grant = getattr(request, "_platform_code_grant", None)
        if grant is None or grant.code != request.code:
            grant = get_grant_model().objects.filter(code=request.code).first()
        request._platform_code_resource = list(grant.resource or []) if grant else []
        deleted, _ = (
            get_grant_model().objects.filter(code=request.code, application=request.client).delete()
        )
        if not deleted:
            # Another request exchanged the same code a moment ago.
            raise _CodeAlreadyUsed()
        request._platform_code_claimed = True

    def save_bearer_token(self, token, request, *args, **kwargs):
        try:
            result = super().save_bearer_token(token, request, *args, **kwargs)
        except _RefreshTokenReused as reused:
            # Rotated by a concurrent request between validation and now: reuse.
            if reused.token_family:
                get_refresh_token_model().revoke_family(reused.token_family)
            self.on_refresh_token_reused(request.client, reused.token_family, request)
            raise errors.InvalidGrantError(request=request) from None
        except _CodeAlreadyUsed:
            from apps_registry.models import UsedAuthorizationCode

            used = UsedAuthorizationCode.objects.filter(
                code_checksum=checksum(request.code), client=request.client
            ).first()
            if used is not None:
                self.on_code_replayed(used, request)
            raise errors.InvalidGrantError(request=request) from None
        self.on_token_issued(token, request)
        return result

    def _save_bearer_token(self, token, request, *args, **kwargs):
        is_code_exchange = request.grant_type == "authorization_code"
        if is_code_exchange:
            self._claim_authorization_code(request)
        previous = getattr(request, "refresh_token_instance", None)
        if request.grant_type == "refresh_token" and previous is not None:
            locked = (
                get_refresh_token_model().objects.select_for_update().filter(pk=previous.pk).first()
            )
            if locked is None or locked.revoked is not None:
                raise _RefreshTokenReused(locked.token_family if locked else None)
        super()._save_bearer_token(token, request, *args, **kwargs)
        if is_code_exchange:
            self._remember_used_code(token, request)

    def _remember_used_code(self, token, request) -> None:
        from apps_registry.models import UsedAuthorizationCode

        family = None
        if token.get("refresh_token"):
            family = (
                get_refresh_token_model()
                .objects.filter(token_checksum=checksum(token["refresh_token"]), revoked=None)
                .values_list("token_family", flat=True)
                .first()
            )
        lifetime = oauth2_settings.REFRESH_TOKEN_EXPIRE_SECONDS or 30 * 24 * 3600
        UsedAuthorizationCode.objects.create(
            code_checksum=checksum(request.code),
            client=request.client,
            token_family=family,
            access_token_checksum=checksum(token["access_token"]),
            forget_after=timezone.now() + timedelta(seconds=int(lifetime)),
        )

    def on_token_issued(self, token, request) -> None:
        """Record the issue (never the token). Refresh and client-credentials tokens are
        background use (docs/architecture.md)."""
        client = request.client
        record_event(
            Action.TOKEN_ISSUED,
            actor_type=ActorType.APP,
            app=getattr(client, "app", None),
            subject_user=request.user if getattr(request, "user", None) else None,
            background=request.grant_type in ("refresh_token", "client_credentials"),
            metadata={"grant_type": request.grant_type, "scope": token.get("scope", "")},
        )

    # ---- refresh tokens: rotation and reuse detection ----------------------------------------
    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        RefreshToken = get_refresh_token_model()
        rows = list(
            RefreshToken.objects.filter(token_checksum=checksum(refresh_token)).values(
                "application_id", "revoked", "token_family"
            )
        )
        if rows and any(r["application_id"] != client.pk for r in rows):
            # Someone else's refresh token: refuse without touching its family.
            return False
        valid = super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)
        if not valid and rows and all(r["revoked"] is not None for r in rows):
            self.on_refresh_token_reused(client, rows[0]["token_family"], request)
        return valid

    def on_refresh_token_reused(self, client, token_family, request) -> None:
        record_event(
            Action.TOKEN_REUSE_DETECTED,
            actor_type=ActorType.APP,
            app=getattr(client, "app", None),
            outcome=Outcome.DENIED,
            reason="A rotated refresh token was used again; its whole family is revoked.",
            metadata={"family_revoked": bool(token_family)},
        )

    # ---- resource server side --------------------------------------------------------------
    def validate_bearer_token(self, token, scopes, request):
        valid = super().validate_bearer_token(token, scopes, request)
        access_token = getattr(request, "access_token", None)
        if valid and access_token is not None:
            client = access_token.application
            person = access_token.user
            if (
                (person is not None and not person.is_active)
                or not self.client_is_usable(client)
                or (
                    # A client-credentials token (no person) dies with the client's permission.
                    access_token.user_id is None
                    and not client.allows_grant_type(client.GRANT_CLIENT_CREDENTIALS)
                )
            ):
                request.access_token = None
                return False
        return valid


class _CodeAlreadyUsed(Exception):
    pass


class _RefreshTokenReused(Exception):
    def __init__(self, token_family):
        super().__init__("refresh token already rotated")
        self.token_family = token_family
