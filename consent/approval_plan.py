"""What the person approved, checked against the engine's decision, and for how long.

Pure, like :mod:`consent.engine`: :func:`resolve_approval` takes the :class:`Decision` the screen
showed and the person's choices (declined scopes, the account per service) and returns the
:class:`ApprovalPlan` that ``consent.services`` records, or a :class:`ChoiceError` with a
sentence for people; :func:`grant_expiry` turns the chosen duration into the grant's end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from consent.catalog import SERVICES
from consent.engine import ConnectionInfo, Decision, Outcome, connection_serves


class ChoiceError(ValueError):
    """The person's choices do not make an approvable grant; the message is for them."""


@dataclass(frozen=True, slots=True)
class ApprovalPlan:
    # Every scope the issued tokens carry (already granted + newly approved).
    token_scopes: tuple[str, ...]
    # Scopes that join the grant now.
    added: tuple[str, ...]
    # Requested scopes the person declined.
    declined: tuple[str, ...]
    # Service -> connection id the grant uses from now on.
    connections: Mapping[str, int]


def resolve_approval(
    decision: Decision,
    *,
    accepted: Iterable[str],
    chosen_connections: Mapping[str, int],
    connections: Iterable[ConnectionInfo],
) -> ApprovalPlan:
    """Check what the person approved against the decision and return what to record.

    ``accepted`` holds the declinable scopes the person kept (required ones are always kept);
    ``chosen_connections`` maps a service to the connection the person picked (needed only when
    two connections could serve it). Raises :class:`ChoiceError` with a sentence for people.
    """
    if decision.suspended:
        raise ChoiceError("This app is suspended: it cannot be approved.")
    if decision.blockers:
        raise ChoiceError("Some of what this app needs is missing: fix it first, or cancel.")
    accepted = set(accepted)
    # Already granted: shown, not asked again, so kept. New: kept unless declined.
    kept = [
        d
        for d in decision.scopes
        if d.outcome == Outcome.GRANTED
        or (
            d.outcome in (Outcome.NEW, Outcome.DECLINED)
            and (not d.declinable or d.name in accepted)
        )
    ]
    if not kept:
        raise ChoiceError("Nothing is left to approve: cancel instead.")
    if all(d.is_platform_choice for d in kept):
        raise ChoiceError("Background access or unattended writes alone grant nothing: cancel.")
    by_id = {c.id: c for c in connections}
    chosen: dict[str, int] = {}
    for plan in decision.services:
        names = [d.name for d in kept if d.service == plan.service]
        if all(d.outcome == Outcome.GRANTED for d in kept if d.service == plan.service):
            continue  # nothing new for this service: its connection stays as it is
        if plan.pinned is not None:
            pool = [plan.pinned]
        else:
            pool = [cid for cid in by_id if by_id[cid].service == plan.service]
        serving = [cid for cid in pool if cid in by_id and connection_serves(by_id[cid], names)]
        picked = chosen_connections.get(plan.service)
        service_name = SERVICES[plan.service].name if plan.service in SERVICES else plan.service
        if picked is not None:
            if picked not in serving:
                raise ChoiceError(f"Choose one of your {service_name} accounts that can do this.")
            chosen[plan.service] = picked
        elif len(serving) == 1:
            chosen[plan.service] = serving[0]
        elif not serving:
            raise ChoiceError(f"None of your {service_name} accounts can do all of this.")
        else:
            raise ChoiceError(f"Choose which {service_name} account this app may use.")
    kept_names = {k.name for k in kept}
    declined = tuple(
        d.name
        for d in decision.scopes
        if d.declinable
        and d.outcome in (Outcome.NEW, Outcome.DECLINED)
        and d.name not in kept_names
    )
    return ApprovalPlan(
        token_scopes=tuple(d.name for d in kept),
        added=tuple(d.name for d in kept if d.outcome != Outcome.GRANTED),
        declined=declined,
        connections=chosen,
    )


DURATIONS: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "30d": timedelta(days=30),
    "forever": None,
}


def grant_expiry(duration: str, *, now: datetime, session_window: timedelta) -> datetime | None:
    """When a grant approved now for ``duration`` ends (None: until revoked)."""
    if duration == "session":
        return now + session_window
    if duration not in DURATIONS:
        raise ChoiceError("Choose how long the app keeps this access.")
    window = DURATIONS[duration]
    return None if window is None else now + window
