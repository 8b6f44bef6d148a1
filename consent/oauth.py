"""Tokens follow the grant.

``GrantOAuth2Validator`` adds the person's grant, as it is at the moment of issue, to the
authorization server's rules (``apps_registry.oauth.PlatformOAuth2Validator``):

- an issued token carries only scopes the grant holds now (a narrowed grant yields narrower
  tokens, on the code exchange and on every refresh);
- an access token never outlives the grant's expiry, and nothing is issued for a grant that is
  revoked or past its expiry;
- a refresh token is issued, and accepted, only while the grant includes background access;
- the token response and introspection carry the resources the grant selects, as RFC 9396
  ``authorization_details`` (``consent.rar``).

The broker checks the grant again on every call, so narrowing or revoking takes effect on the
very next call whatever tokens are out there.
"""

from __future__ import annotations

import functools

from django.db import connections, router
from django.utils import timezone
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors

from apps_registry.oauth import PlatformOAuth2Validator
from consent import rar
from consent.catalog import BACKGROUND_SCOPE
from consent.models import Grant
from consent.token_limits import token_lifetime, token_scopes
from identity import rows

USER_GRANT_TYPES = ("authorization_code", "refresh_token")


@functools.cache
def _grant_sql(db: str) -> str:
    # One person's grant for one app (unique): the ORM compiled this statement on every token
    # request, twice per refresh (validation and issue), more CPU than the rest of the grant's
    # checks. The model's own names only; the values are parameters.
    meta, q = Grant._meta, connections[db].ops.quote_name
    return (
        f"SELECT {rows.columns(Grant, db).select()} FROM {q(meta.db_table)} "  # noqa: S608
        f"WHERE {q(meta.get_field('user').column)} = %s AND {q(meta.get_field('app').column)} = %s"
    )


def live_grant_for(user, client) -> Grant | None:
    """The person's live grant for the app behind ``client``, or None."""
    app = getattr(client, "app", None)
    if user is None or app is None:
        return None
    db = router.db_for_read(Grant)
    with connections[db].cursor() as cursor:
        cursor.execute(_grant_sql(db), [user.pk, app.pk])
        row = cursor.fetchone()
    grant = None if row is None else rows.columns(Grant, db).instance(row)
    if grant is None or not grant.is_live(timezone.now()):
        return None
    return grant


class GrantOAuth2Validator(PlatformOAuth2Validator):
    def _grant(self, request) -> Grant | None:
        cached = getattr(request, "_consent_grant", False)
        if cached is not False:
            return cached
        user = getattr(request, "user", None)
        if user is not None and not user.is_active:
            # A deactivated person: no code exchange, no refresh (issue 12 item 3).
            request._consent_grant = None
            return None
        grant = live_grant_for(user, request.client)
        request._consent_grant = grant
        return grant

    # ---- the code exchange ------------------------------------------------------------------
    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            return False
        grant = self._grant(request)
        if grant is None:
            return False
        request.scopes = token_scopes(request.scopes, grant.scopes)
        return bool(request.scopes)

    # ---- refresh ------------------------------------------------------------------------------
    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        grant = self._grant(request)
        return grant is not None and BACKGROUND_SCOPE in grant.scopes

    def get_original_scopes(self, refresh_token, request, *args, **kwargs):
        original = super().get_original_scopes(refresh_token, request, *args, **kwargs)
        if isinstance(original, str):
            original = original.split()
        grant = self._grant(request)
        return token_scopes(original, grant.scopes if grant else ())

    # ---- issuing --------------------------------------------------------------------------------
    def save_bearer_token(self, token, request, *args, **kwargs):
        if request.grant_type in USER_GRANT_TYPES and getattr(request, "user", None) is not None:
            self._bound_by_grant(token, request)
        return super().save_bearer_token(token, request, *args, **kwargs)

    def _bound_by_grant(self, token, request) -> None:
        request._consent_grant = False  # look again: the grant may have changed since validation
        grant = self._grant(request)
        if grant is None:
            raise errors.InvalidGrantError(
                description="The person's approval for this app has ended.", request=request
            )
        scopes = token_scopes(str(token.get("scope", "")).split(), grant.scopes)
        if not scopes:
            raise errors.InvalidScopeError(
                description="The person's approval no longer covers these scopes.",
                request=request,
            )
        token["scope"] = " ".join(scopes)
        default = int(token.get("expires_in") or oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)
        lifetime = token_lifetime(default, grant_expires_at=grant.expires_at, now=timezone.now())
        if lifetime <= 0:
            raise errors.InvalidGrantError(
                description="The person's approval for this app has ended.", request=request
            )
        token["expires_in"] = lifetime
        if BACKGROUND_SCOPE not in grant.scopes:
            # Session access only: no refresh token, so access ends with the access token.
            token.pop("refresh_token", None)
        details = rar.granted_details(scopes, grant.resources)
        if details:
            token["authorization_details"] = details

    def introspection_extra(self, access_token) -> dict:
        grant = live_grant_for(access_token.user, access_token.application)
        if grant is None:
            return {}
        details = rar.granted_details(access_token.scope.split(), grant.resources)
        return {"authorization_details": details} if details else {}
