"""Helpers for the Your access tests."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.utils import timezone


def issue_token(*, app, user, scopes, lifetime=timedelta(minutes=10)) -> str:
    """A platform access token (stored as a checksum, as in production), returned in clear."""
    from oauth2_provider.models import AccessToken, set_token_value

    raw = "platform-" + secrets.token_urlsafe(24)
    token = AccessToken(
        user=user,
        application=app.client,
        expires=timezone.now() + lifetime,
        scope=" ".join(scopes),
    )
    set_token_value(token, raw)
    token.save()
    return raw
