"""Refresh tokens: rotation (the old one locked and checked under the lock, so two concurrent
uses cannot both rotate it) and reuse detection (a rotated token used again revokes its family).

:class:`RefreshTokenRotation` is one part of ``apps_registry.oauth.PlatformOAuth2Validator``.
"""

from __future__ import annotations

from django.db.models import F
from django.utils import timezone
from oauth2_provider.models import get_refresh_token_model, refresh_token_expire_timedelta

from apps_registry.hashers import checksum
from audit.actions import Action, ActorType, Outcome
from audit.services import record_event


class RefreshTokenReused(Exception):
    """Rotated by a concurrent request between validation and now."""

    def __init__(self, token_family):
        super().__init__("refresh token already rotated")
        self.token_family = token_family


class RefreshTokenRotation:
    """The refresh rules of the validator (a mixin before ``OAuth2Validator``)."""

    def _lock_refresh_token(self, request) -> None:
        """Inside the token transaction: lock the refresh token being spent and refuse it if a
        concurrent request rotated it since it was validated."""
        previous = getattr(request, "refresh_token_instance", None)
        if request.grant_type == "refresh_token" and previous is not None:
            locked = (
                get_refresh_token_model().objects.select_for_update().filter(pk=previous.pk).first()
            )
            if locked is None or locked.revoked is not None:
                raise RefreshTokenReused(locked.token_family if locked else None)

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        RefreshToken = get_refresh_token_model()
        # Every row with this checksum (unique per (checksum, revoked)), the live one first, with
        # its access token and person: what DOT's own validation reads, in one query.
        rows = list(
            RefreshToken.objects.filter(token_checksum=checksum(refresh_token))
            .select_related("access_token", "user")
            .order_by(F("revoked").desc(nulls_first=True))
        )
        if rows and any(r.application_id != client.pk for r in rows):
            # Someone else's refresh token: refuse without touching its family.
            return False
        live = rows[0] if rows and rows[0].revoked is None else None
        if live is not None and live.access_token is not None:
            # The common case, decided from the row just read, by DOT's rules for a live
            # token: dead REFRESH_TOKEN_EXPIRE_SECONDS after its access token expired.
            expire_delta = refresh_token_expire_timedelta()
            if expire_delta and live.access_token.expires + expire_delta <= timezone.now():
                return False
            request.user = live.user
            request.refresh_token = refresh_token
            request.refresh_token_instance = live
            return True  # its application is this client (checked above)
        # Unknown, revoked (grace period, reuse and family revocation) or orphaned: DOT decides.
        valid = super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)
        if not valid and rows and all(r.revoked is not None for r in rows):
            self.on_refresh_token_reused(client, rows[0].token_family, request)
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
