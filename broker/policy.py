"""May this call proceed? The broker's decision, as a pure function over plain data.

No ORM, no request, no clock: the caller loads the facts (token, grant, connection, the call),
passes the time, and gets a :class:`Decision`. The checks run in the order the platform promises:
token, grant (suspended app, revoked, expired), scope, connection, resource, session or
background, then whether a write must wait for the person.

Resource ids are compared in the canonical form of their kind (``connections.providers.kinds``,
the one canonicaliser the consent screen stores selections through too); anything that does not
canonicalise (encoded slashes, dot segments, non-ASCII look-alikes) is refused rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connections.providers.kinds import canonical

BACKGROUND_SCOPE = "agents.jobs.background"
UNATTENDED_WRITES_SCOPE = "agents.actions.unattended_writes"


@dataclass(frozen=True, slots=True)
class TokenFacts:
    scopes: frozenset[str]
    issued_at: datetime
    expires_at: datetime
    # True for a token issued from a refresh grant (the person was not there).
    from_refresh: bool = False
    # True for a client-credentials token (the app's backend, no person).
    client_credentials: bool = False


@dataclass(frozen=True, slots=True)
class GrantFacts:
    scopes: frozenset[str]
    # scope name -> canonical resource ids selected for it
    resources: Mapping[str, frozenset[str]] = field(default_factory=dict)
    revoked: bool = False
    expires_at: datetime | None = None
    app_suspended: bool = False


@dataclass(frozen=True, slots=True)
class ConnectionFacts:
    service: str
    active: bool
    owned_by_grant_user: bool


@dataclass(frozen=True, slots=True)
class CallFacts:
    scope: str | None  # None: any live grant may make this call (what may my token do?)
    service: str | None = None
    is_write: bool = False
    resource_kind: str | None = None
    # Raw resource as the app spelled it; None for calls on no single resource (lists, /me).
    resource: str | None = None
    # Resources found upstream that the resource must be in (a Drive file's parent folders).
    resource_parents: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    message: str
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    refusal: Refusal | None = None
    background: bool = False
    pending: bool = False
    # The canonical id of the resource the call acts on ("" when none).
    resource: str = ""
    effective_scopes: frozenset[str] = frozenset()

    @property
    def allowed(self) -> bool:
        return self.refusal is None


def effective_scopes(token: TokenFacts, grant: GrantFacts) -> frozenset[str]:
    """What the call may use: the token's scopes, narrowed to what the grant holds now."""
    return token.scopes & grant.scopes


def is_background(token: TokenFacts, *, now: datetime, session_window: timedelta) -> bool:
    """Background use: the person was not there when the token was issued, or a while ago."""
    if token.client_credentials or token.from_refresh:
        return True
    return now - token.issued_at > session_window


def selection_for(grant: GrantFacts, scope: str) -> frozenset[str]:
    return grant.resources.get(scope, frozenset())


def grant_refusal(grant: GrantFacts | None, *, now: datetime) -> Refusal | None:
    """Why this grant cannot be used now (none, app suspended, revoked, expired), or None."""
    if grant is None:
        return Refusal("grant_revoked", "The person has not granted this app access.")
    if grant.app_suspended:
        return Refusal("app_suspended", "This app is suspended by the platform.")
    if grant.revoked:
        return Refusal("grant_revoked", "The person revoked this app's access.")
    if grant.expires_at is not None and grant.expires_at <= now:
        return Refusal("grant_revoked", "The person's grant for this app has expired.")
    return None


def connection_refusal(connection: ConnectionFacts | None, call: CallFacts) -> Refusal | None:
    """Why the call's service cannot be reached through this connection, or None."""
    if call.service is not None and (
        connection is None
        or not connection.owned_by_grant_user
        or connection.service != call.service
        or not connection.active
    ):
        return Refusal(
            "connection_needs_reauthorization",
            f"The person must connect or reconnect {call.service} before this app can use it.",
        )
    return None


def check_resource(grant: GrantFacts, call: CallFacts) -> tuple[Refusal | None, str]:
    """Is the call's resource (or one of its parents) in the person's selection for the call's
    scope? Returns the refusal or None, and the canonical id of the resource ("" when none)."""
    if call.resource_kind is None or (call.resource is None and call.resource_parents is None):
        return None, ""
    selected = selection_for(grant, call.scope)
    if call.resource_parents is not None:
        parents = {canonical(call.resource_kind, p) for p in call.resource_parents}
        if not (parents - {None}) & selected:
            return Refusal(
                "resource_not_granted",
                "This file is not in a folder the person selected for this app.",
            ), ""
        return None, canonical("file", call.resource) or ""
    resource = canonical(call.resource_kind, call.resource)
    if resource is None or resource not in selected:
        return Refusal(
            "resource_not_granted",
            f"This {call.resource_kind} is not one the person selected for this app.",
        ), ""
    return None, resource


def _insufficient(scope: str) -> Refusal:
    return Refusal(
        "insufficient_scope",
        f"This call needs the scope {scope}, which this token's grant does not include.",
        {"scope": scope},
    )


def decide(
    *,
    token: TokenFacts,
    grant: GrantFacts | None,
    connection: ConnectionFacts | None,
    call: CallFacts,
    now: datetime,
    session_window: timedelta,
) -> Decision:
    """Decide whether one brokered call may proceed, and how (session/background, pending)."""
    background = is_background(token, now=now, session_window=session_window)

    def refuse(refusal: Refusal) -> Decision:
        return Decision(refusal=refusal, background=background)

    if token.expires_at <= now:
        return refuse(Refusal("invalid_token", "The access token has expired."))
    if (refusal := grant_refusal(grant, now=now)) is not None:
        return refuse(refusal)
    scopes = effective_scopes(token, grant)
    if call.scope is not None and call.scope not in scopes:
        return refuse(_insufficient(call.scope))
    if (refusal := connection_refusal(connection, call)) is not None:
        return refuse(refusal)
    refusal, resource = check_resource(grant, call)
    if refusal is not None:
        return refuse(refusal)

    if background and BACKGROUND_SCOPE not in grant.scopes:
        if token.client_credentials or token.from_refresh:
            message = "The person did not allow this app to act while they are away."
        else:
            message = "The session the person approved has ended; background use is not allowed."
        return refuse(Refusal("background_not_allowed", message))

    pending = call.is_write and UNATTENDED_WRITES_SCOPE not in scopes
    return Decision(
        background=background, pending=pending, resource=resource, effective_scopes=scopes
    )


def decide_approved_write(
    *,
    grant: GrantFacts | None,
    connection: ConnectionFacts | None,
    call: CallFacts,
    now: datetime,
) -> Decision:
    """May a write the person approved be performed now? No token is involved: the person
    approved this one write, so the grant as it is now, its connection and the selection
    decide (revoked, narrowed or disconnected since the approval: refused)."""
    refusal = grant_refusal(grant, now=now)
    if refusal is None and call.scope is not None and call.scope not in grant.scopes:
        refusal = _insufficient(call.scope)
    refusal = refusal or connection_refusal(connection, call)
    resource = ""
    if refusal is None:
        refusal, resource = check_resource(grant, call)
    return Decision(
        refusal=refusal, resource=resource, effective_scopes=grant.scopes if grant else frozenset()
    )


@dataclass(frozen=True, slots=True)
class JobCheck:
    allowed: bool
    reason: str


def check_job(*, grant: GrantFacts | None, scopes: frozenset[str], now: datetime) -> JobCheck:
    """May a background job run for this grant with these scopes now?"""
    if grant is None:
        return JobCheck(False, "no grant exists for this app and person")
    if grant.app_suspended:
        return JobCheck(False, "the app is suspended")
    if grant.revoked:
        return JobCheck(False, "the grant was revoked")
    if grant.expires_at is not None and grant.expires_at <= now:
        return JobCheck(False, "the grant has expired")
    if BACKGROUND_SCOPE not in grant.scopes:
        return JobCheck(False, f"the grant does not include {BACKGROUND_SCOPE}")
    missing = sorted(scopes - grant.scopes)
    if missing:
        return JobCheck(False, "the grant does not include " + ", ".join(missing))
    return JobCheck(True, "allowed")
