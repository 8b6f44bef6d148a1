"""Reads of the audit log: one page of the events about a person. Nothing here writes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Max, Q

from audit.actions import Action, Outcome
from audit.models import AuditEvent

ACTIVITY_PAGE = 50


@dataclass(frozen=True, slots=True)
class ActivityFilter:
    app_id: int | None = None
    service: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    before_id: int | None = None
    # API calls to these platform operations are left out (polls the person needs not see).
    hide_operations: tuple[str, ...] = ()


def activity(*, user, filters: ActivityFilter, limit: int = ACTIVITY_PAGE) -> list[AuditEvent]:
    """The newest events about ``user`` matching ``filters``, one page (keyset on id)."""
    qs = AuditEvent.objects.filter(subject_user=user)
    if filters.app_id is not None:
        qs = qs.filter(app_id=filters.app_id)
    if filters.service:
        qs = qs.filter(service=filters.service)
    if filters.since is not None:
        qs = qs.filter(occurred_at__gte=filters.since)
    if filters.until is not None:
        qs = qs.filter(occurred_at__lt=filters.until)
    if filters.before_id is not None:
        qs = qs.filter(id__lt=filters.before_id)
    if filters.hide_operations:
        # has_key first: a missing key makes the IN test NULL, which would hide the row too.
        qs = qs.exclude(
            Q(action=Action.API_CALL)
            & Q(metadata__has_key="operation")
            & Q(metadata__operation__in=list(filters.hide_operations))
        )
    return list(qs.order_by("-id")[:limit])


def background_and_refused(*, user, since: dt.datetime, until: dt.datetime) -> list[AuditEvent]:
    """What apps did about ``user`` in the background, and what was refused, in a period."""
    return list(
        AuditEvent.objects.filter(
            subject_user=user,
            action=Action.API_CALL,
            occurred_at__gte=since,
            occurred_at__lt=until,
        )
        .filter(Q(background=True) | Q(outcome__in=[Outcome.DENIED, Outcome.FAILURE]))
        .order_by("id")[:5000]
    )


def last_successful_calls(*, user, grant_ids) -> dict[tuple[int, str], dt.datetime]:
    """When each of these grants last made a successful call, per service: one query."""
    return {
        (row["grant_id"], row["service"]): row["last"]
        for row in AuditEvent.objects.filter(
            subject_user=user,
            action=Action.API_CALL,
            outcome=Outcome.SUCCESS,
            grant_id__in=list(grant_ids),
        )
        .values("grant_id", "service")
        .annotate(last=Max("occurred_at"))
        .order_by()
    }
