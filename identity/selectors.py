"""Reads about people that other layers need."""

from __future__ import annotations

from allauth.account.models import EmailAddress


def verified_email(user) -> str | None:
    """The person's verified e-mail address (the primary one first), or None: an address nobody
    proved is never presented as the person's identity (issue 12 item 4)."""
    row = (
        EmailAddress.objects.filter(user=user, verified=True)
        .order_by("-primary", "id")
        .values_list("email", flat=True)
        .first()
    )
    return row
