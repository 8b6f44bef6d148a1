"""Refresh tokens: rotation (the old one locked and checked under the lock, so two concurrent
uses cannot both rotate it) and reuse detection (a rotated token used again revokes its family).

:class:`RefreshTokenRotation` is one part of ``apps_registry.oauth.PlatformOAuth2Validator``.
"""

from __future__ import annotations

import functools
from datetime import timedelta

from django.db import connections, router
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_refresh_token_model,
    refresh_token_expire_timedelta,
)
from oauth2_provider.settings import oauth2_settings

from apps_registry.hashers import checksum
from apps_registry.selectors import refresh_tokens_with_checksum
from audit.actions import Action, ActorType, Outcome
from audit.services import record_event


class RefreshTokenReused(Exception):
    """Rotated by a concurrent request between validation and now."""

    def __init__(self, token_family):
        super().__init__("refresh token already rotated")
        self.token_family = token_family


# The rotation's two writes, written once per database from the models' own names: through the
# ORM, the UPDATE's compilation and the delete's collector (which looks for rows to cascade to
# and sends signals nobody listens to) were a quarter of a refresh grant's CPU.
@functools.cache
def _spend_statement(db: str) -> str:
    q = connections[db].ops.quote_name
    meta = get_refresh_token_model()._meta

    def col(name: str) -> str:
        return q(meta.get_field(name).column)

    return (
        f"UPDATE {q(meta.db_table)} SET {col('revoked')} = %s, {col('updated')} = %s, "  # noqa: S608
        f"{col('access_token')} = NULL WHERE {q(meta.pk.column)} = %s AND {col('revoked')} IS NULL"
    )


@functools.cache
def _delete_access_statement(db: str) -> str:
    q = connections[db].ops.quote_name
    meta = get_access_token_model()._meta
    return f"DELETE FROM {q(meta.db_table)} WHERE {q(meta.pk.column)} = %s"  # noqa: S608


def _spend(previous, now) -> bool:
    """Revoke the spent refresh token and let go of its access token, if no one did first."""
    db = router.db_for_write(get_refresh_token_model())
    connection = connections[db]
    stamp = get_refresh_token_model()._meta.get_field("revoked").get_db_prep_save(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(_spend_statement(db), [stamp, stamp, previous.pk])
        return cursor.rowcount == 1


def _delete_access_token(pk: int) -> None:
    """The spent token's access token: only its refresh token pointed at it (a one-to-one),
    and :func:`_spend` just pointed that elsewhere, so there is nothing to cascade to. A cached
    broker call sees the row gone (``broker.factcache`` reads its version)."""
    db = router.db_for_write(get_access_token_model())
    with connections[db].cursor() as cursor:
        cursor.execute(_delete_access_statement(db), [pk])


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

    def _rotates_live_token(self, token, request) -> bool:
        """The common refresh: rotation on, a new refresh token, and the spent one read live
        with its access token by :meth:`validate_refresh_token` (anything else is DOT's)."""
        previous = getattr(request, "refresh_token_instance", None)
        return (
            request.grant_type == "refresh_token"
            and bool(token.get("refresh_token"))
            and "scope" in token
            and self.rotate_refresh_token(request)
            and getattr(request, "_live_refresh_token", None) is previous
            and previous is not None
        )

    def _save_rotated(self, token, request) -> None:
        """Inside the token transaction: DOT's rotation of a live refresh token
        (``OAuth2Validator._save_bearer_token``: lock it, lock its successor, revoke it, delete its
        access token, create the new pair) in four statements instead of twelve.

        The spent token is revoked by one ``UPDATE ... WHERE revoked IS NULL``: it takes the row's
        lock, and PostgreSQL re-checks the condition once a concurrent rotation has committed, so
        of two concurrent uses exactly one spends it and the other is reuse (the family is
        revoked, ``save_bearer_token``). A live token has no successor (rotation revokes a token
        in the transaction that creates its successor, and there is no grace period), so DOT's
        re-issue of a successor does not arise here."""
        self._check_and_set_request_resource(request)
        now = timezone.now()
        expires = now + timedelta(
            seconds=token.get("expires_in", oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)
        )
        previous = request.refresh_token_instance
        if not _spend(previous, now):
            raise RefreshTokenReused(previous.token_family)
        old_access_id = previous.access_token_id
        previous.access_token, previous.revoked, previous.updated = None, now, now
        if old_access_id is not None:
            # One already deleted (the app suspended meanwhile) is fine: nothing to delete.
            _delete_access_token(old_access_id)
        request.refresh_token_instance = None  # as DOT leaves it after revoking
        access = self._create_access_token(expires, request, token, source_refresh_token=previous)
        self._create_refresh_token(request, token["refresh_token"], access, previous)

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        # Every row with this checksum (unique per (checksum, revoked)), the live one first, with
        # its access token and person: what DOT's own validation reads, in one query.
        rows = refresh_tokens_with_checksum(checksum(refresh_token))
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
            request._live_refresh_token = live  # read live, with its access token: _save_rotated
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
