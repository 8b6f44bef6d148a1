"""Reads for the developer pages and the admin."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from apps_registry.models import App


def apps_for_user(user):
    """Apps of the publishers the person owns or belongs to."""
    return (
        App.objects.filter(Q(publisher__owner=user) | Q(publisher__members=user))
        .select_related("publisher", "client")
        .distinct()
    )


def app_for_user(user, pk: int) -> App | None:
    return apps_for_user(user).filter(pk=pk).first()


@dataclass(frozen=True, slots=True)
class AccessSummary:
    people: int
    scopes_in_use: list[tuple[str, int]]  # (scope, how many people granted it), most used first


def _live_grants(app: App):
    # consent.Grant, read through the reverse relation (apps_registry does not import consent).
    now = timezone.now()
    return app.grants.filter(revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def app_access_summary(app: App) -> AccessSummary:
    """How many people have granted the app access and which scopes are in use; never who."""
    counter: Counter[str] = Counter()
    people = 0
    for scopes in _live_grants(app).values_list("scopes", flat=True):
        people += 1
        counter.update(set(scopes or []))
    return AccessSummary(
        people=people, scopes_in_use=sorted(counter.items(), key=lambda i: (-i[1], i[0]))
    )


def app_people(app: App, *, viewer) -> list:
    """Who has access: staff only."""
    if not getattr(viewer, "is_staff", False):
        return []
    return list(_live_grants(app).select_related("user").order_by("user__email"))
