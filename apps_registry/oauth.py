"""The platform's OAuth 2.0 rules on top of django-oauth-toolkit (RFC 6749, 7636, 9700).

``PlatformOAuth2Validator`` decides who is a client, how clients authenticate, which scopes a
client may ask for, PKCE, redirect URIs, refresh-token reuse and authorization-code replay. Each
responsibility has its module, composed here:

- :mod:`apps_registry.oauth_clients`: credentials, the client and its app, secrets, suspension;
- :mod:`apps_registry.oauth_scopes`: the scopes a client may ask for, RFC 8707 resources;
- :mod:`apps_registry.oauth_codes`: PKCE, single-use codes, replay, the redirect URI;
- :mod:`apps_registry.oauth_refresh`: refresh-token rotation and reuse detection;
- this module: grant and response types, issuing (and recording) tokens, bearer validation.

``consent.oauth.GrantOAuth2Validator`` subclasses it (tokens follow the person's grant); each rule
is a small method so that a subclass can extend one without copying the others:

- :meth:`allowed_scopes` the scopes a client may request (catalog and the app's allowance),
- :meth:`client_is_usable` whether a client may authenticate at all (suspension),
- :meth:`on_token_issued`, :meth:`on_code_replayed`, :meth:`on_refresh_token_reused` hooks.
"""

from __future__ import annotations

from oauth2_provider.models import get_refresh_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from apps_registry.hashers import checksum
from apps_registry.oauth_clients import (
    ClientAuthentication,
    ClientRateLimited,
    count_authenticated_client,
    parse_client_credentials,
)
from apps_registry.oauth_codes import AuthorizationCodes, CodeAlreadyUsed
from apps_registry.oauth_refresh import RefreshTokenReused, RefreshTokenRotation
from apps_registry.oauth_scopes import (
    BACKGROUND_SCOPE,
    OFFLINE_ACCESS,
    SCOPE_ALIASES,
    ScopeRules,
    canonical_scopes,
    catalog_scope_names,
)
from audit.actions import Action, ActorType
from audit.services import record_event

__all__ = [
    "BACKGROUND_SCOPE",
    "OFFLINE_ACCESS",
    "SCOPE_ALIASES",
    "SUPPORTED_GRANT_TYPES",
    "ClientRateLimited",
    "PlatformOAuth2Validator",
    "canonical_scopes",
    "catalog_scope_names",
    "checksum",
    "count_authenticated_client",
    "parse_client_credentials",
]

SUPPORTED_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


class PlatformOAuth2Validator(
    ClientAuthentication, ScopeRules, AuthorizationCodes, RefreshTokenRotation, OAuth2Validator
):
    # ---- grants --------------------------------------------------------------------------------
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

    def introspection_extra(self, access_token) -> dict:
        """More RFC 7662 members for an active access token (the consent layer adds the
        granted ``authorization_details``)."""
        return {}

    # ---- issuing -------------------------------------------------------------------------------
    def save_bearer_token(self, token, request, *args, **kwargs):
        try:
            if request.grant_type == "client_credentials" and "refresh_token" not in token:
                # The access token's INSERT is all there is to save, and atomic on its own: DOT's
                # transaction around it would add two round trips (BEGIN, COMMIT) to every grant.
                result = self._save_bearer_token(token, request, *args, **kwargs)
            else:
                result = super().save_bearer_token(token, request, *args, **kwargs)
        except RefreshTokenReused as reused:
            # Rotated by a concurrent request between validation and now: reuse.
            if reused.token_family:
                get_refresh_token_model().revoke_family(reused.token_family)
            self.on_refresh_token_reused(request.client, reused.token_family, request)
            raise errors.InvalidGrantError(request=request) from None
        except CodeAlreadyUsed:
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
        if self._rotates_live_token(token, request):
            self._save_rotated(token, request)
        else:
            self._lock_refresh_token(request)
            super()._save_bearer_token(token, request, *args, **kwargs)
        if is_code_exchange:
            self._remember_used_code(token, request)

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
