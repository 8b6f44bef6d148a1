"""Authorization codes: PKCE S256 for every client, single use, replay revokes what the code
issued (RFC 6749 4.1.2), the redirect URI repeated when the authorization request named one
(RFC 6749 4.1.3), and the code claimed atomically with the tokens it yields.

:class:`AuthorizationCodes` is one part of ``apps_registry.oauth.PlatformOAuth2Validator``.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_refresh_token_model,
)
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors

from apps_registry.hashers import checksum
from audit.actions import Action, ActorType, Outcome
from audit.services import record_event

# RFC 7636 4.1/4.2: a verifier and an S256 challenge use the unreserved characters only.
_PKCE_CHALLENGE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


class CodeAlreadyUsed(Exception):
    """Another request exchanged the same code a moment ago."""


class AuthorizationCodes:
    """The code rules of the validator (a mixin before ``OAuth2Validator``)."""

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
            raise CodeAlreadyUsed()
        request._platform_code_claimed = True

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
