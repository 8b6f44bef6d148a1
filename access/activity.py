"""Activity for people: de-noised, one sentence per thing that happened, grouped by day in the
person's time zone; and the "while you were away" digest of background work.

Polls (an app asking the platform what a held action became, or what its token may do) are
kept in the audit log but are not things that happened to the person: the page leaves them out.
Repeats of the same sentence one after another are shown once, with a count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from access.selectors import describe, service_name
from audit.actions import Outcome
from audit.selectors import background_and_refused

# Platform operations that only ask about something, never change or read the person's data.
POLL_OPERATIONS = ("platform.action", "platform.token")


@dataclass(slots=True)
class Line:
    event: object
    sentence: str
    at: dt.datetime
    count: int = 1

    @property
    def refused(self) -> bool:
        return self.event.outcome in (Outcome.DENIED, Outcome.FAILURE)


@dataclass(slots=True)
class Day:
    date: dt.date
    label: str
    lines: list[Line] = field(default_factory=list)


def _day_label(date: dt.date, today: dt.date) -> str:
    if date == today:
        return "Today"
    if date == today - dt.timedelta(days=1):
        return "Yesterday"
    return f"{date:%A} {date.day} {date:%B %Y}"


def by_day(events, *, viewer, now: dt.datetime | None = None) -> list[Day]:
    """Events (newest first) as days of lines, in the active (the person's) time zone."""
    today = timezone.localtime(now or timezone.now()).date()
    days: list[Day] = []
    for event in events:
        at = timezone.localtime(event.occurred_at)
        sentence = describe(event, viewer=viewer)
        if not days or days[-1].date != at.date():
            days.append(Day(at.date(), _day_label(at.date(), today)))
        lines = days[-1].lines
        if lines and lines[-1].sentence == sentence:
            lines[-1].count += 1  # the same thing again: once, with a count
            continue
        lines.append(Line(event, sentence, at))
    return days


@dataclass(slots=True)
class DigestEntry:
    app: str
    service: str
    calls: int = 0
    refused: int = 0
    resources: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Digest:
    since: dt.datetime
    until: dt.datetime
    entries: list[DigestEntry]

    @property
    def empty(self) -> bool:
        return not self.entries

    @property
    def total_calls(self) -> int:
        return sum(e.calls for e in self.entries)

    @property
    def total_refused(self) -> int:
        return sum(e.refused for e in self.entries)


def digest(*, user, since: dt.datetime, until: dt.datetime | None = None) -> Digest:
    """What each app did in the background since ``since``, per app and service, with counts
    and anything refused."""
    until = until or timezone.now()
    groups: dict[tuple[str, str], DigestEntry] = {}
    for event in background_and_refused(user=user, since=since, until=until):
        key = (event.app_label or "An app", event.service or "")
        entry = groups.setdefault(
            key, DigestEntry(app=key[0], service=service_name(key[1]) if key[1] else "the platform")
        )
        if event.outcome in (Outcome.DENIED, Outcome.FAILURE):
            entry.refused += 1
            if event.reason and event.reason not in entry.reasons and len(entry.reasons) < 3:
                entry.reasons.append(event.reason)
        else:
            entry.calls += 1
        if event.resource and event.resource not in entry.resources and len(entry.resources) < 5:
            entry.resources.append(event.resource)
    entries = sorted(groups.values(), key=lambda e: (e.app.lower(), e.service))
    return Digest(since=since, until=until, entries=entries)
