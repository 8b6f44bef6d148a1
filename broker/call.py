"""The brokered call, end to end: who is calling, may it proceed, perform or hold it, record it.

Views (REST and MCP) only translate to :func:`broker_call` and back. Every call that got as far as
a known app is recorded (``Action.API_CALL``) with app, person, grant, scope, service, operation,
resource, background flag, outcome, upstream status and latency; never a body or a token.
"""

from __future__ import annotations

from django.utils import timezone

from apps_registry.audience import API as API_AUDIENCE
from audit.actions import Outcome
from broker import exceptions, gateway
from broker.bodies import validate_body
from broker.pending import pending_action_create
from broker.policy import CallFacts, decide
from broker.provider_calls import perform
from broker.ratelimit import enforce_call_count, send_call_count
from broker.records import BrokerResult, CallRecord, record_call, refuse, session_window, touch
from broker.selectors import connection_facts, connection_for, grant_facts, token_facts
from broker.tokens import grant_for_token, token_authenticate
from connections.providers.operations import Operation


def provider_failure(exc: exceptions.BrokerError) -> bool:
    """The provider itself failed (no answer in time, a 5xx): counted on the connection, which
    "needs attention" after a few in a row. Not a refusal of the app's request, a rate limit, or
    a call the platform did not send (over the per-provider limit)."""
    if not getattr(exc, "sent", True):
        return False
    if isinstance(exc, exceptions.UpstreamUnavailable):
        return True
    return (
        isinstance(exc, exceptions.UpstreamError)
        and (exc.details.get("upstream_status") or 0) >= 500
    )


def authenticate_for_call(*, request, audience: str = API_AUDIENCE, service: str | None):
    """The token of a request that is one brokered call (``broker.tokens.token_authenticate``),
    the call's rate-limit count sent while a cached token's facts are checked: the two waits
    overlap, and :func:`broker_call` enforces the count."""
    return token_authenticate(
        request=request, audience=audience, service=service, meanwhile=send_call_count
    )


def broker_call(
    *,
    request,
    operation: Operation | None,
    scope: str | None,
    name: str = "",
    params: dict | None = None,
    query: dict | None = None,
    body: dict | None = None,
    handler=None,
    audience: str = API_AUDIENCE,
    token=None,
) -> BrokerResult:
    """Run one brokered call end to end. ``operation`` is a provider operation, or None with a
    ``handler(token, grant, decision)`` for the platform's own endpoints (/me). ``audience``
    names the protected resource the call came through (the REST API, or /mcp). ``token``: the
    request's bearer token, already authenticated for ``audience`` a moment ago in this same
    request (the MCP endpoint does so before its JSON-RPC runs); otherwise it is read here."""
    if token is None:
        token = authenticate_for_call(
            request=request, audience=audience, service=operation.service if operation else None
        )
    name = operation.name if operation else name
    record = CallRecord(
        operation=name, scope=scope or "", service=operation.service if operation else ""
    )
    grant = connection = None
    try:
        grant = grant_for_token(token=token, request=request)
        facts = token_facts(token)
        record.background = (
            facts.client_credentials
            or facts.from_refresh
            or (timezone.now() - facts.issued_at > session_window())
        )
        if grant is not None:
            # The count sent with the token's facts is this call's, used once.
            early, token.overlapped = token.overlapped, None
            enforce_call_count(early, app_id=token.app.pk, grant_id=grant.pk)
        provider = None
        if operation is not None and grant is not None:
            connection, provider = connection_for(
                grant=grant, service=operation.service, preloaded=token.preloaded_connection
            )
        call = CallFacts(
            scope=scope,
            service=operation.service if operation else None,
            is_write=operation.is_write if operation else False,
            resource_kind=operation.resource_kind if operation else None,
            resource=operation.resource_of(params or {}) if operation else None,
        )
        now = timezone.now()
        gfacts = grant_facts(grant, only_scope=scope) if grant is not None else None
        decision = decide(
            token=facts,
            grant=gfacts,
            connection=connection_facts(connection, provider, grant) if grant else None,
            call=call,
            now=now,
            session_window=session_window(),
        )
        record.background = decision.background
        record.resource = decision.resource or (call.resource or "")[:200]
        if not decision.allowed:
            error = refuse(decision)
            if isinstance(error, exceptions.ConnectionNeedsReauthorization):
                own = connection if connection and connection.user_id == grant.user_id else None
                error.details["url"] = gateway.reconnect_url(own, scope=scope or "")
            raise error
        if operation is None:
            result = handler(token=token, grant=grant, decision=decision)
        else:
            validated = validate_body(operation, body) if operation.is_write else None
            if decision.pending:
                result = pending_action_create(
                    operation=operation,
                    grant=grant,
                    params=operation.canonical_params(params or {}),
                    body=validated or {},
                    resource=decision.resource,
                    background=decision.background,
                )
                record.outcome = Outcome.PENDING
            else:
                result = perform(
                    operation=operation,
                    grant=grant,
                    gfacts=gfacts,
                    connection=connection,
                    provider=provider,
                    params=params or {},
                    query=query or {},
                    body=validated,
                    record=record,
                )
        record.status = result.status
        if connection is not None and record.upstream_status is not None:
            gateway.call_outcome(connection, failed=None)
        return result
    except exceptions.BrokerError as exc:
        if connection is not None and provider_failure(exc):
            gateway.call_outcome(connection, failed=exc.message)
        url = exc.details.get("url")
        if isinstance(url, str) and url.startswith("/"):
            exc.details["url"] = request.build_absolute_uri(url)
        record.outcome = (
            Outcome.FAILURE
            if exc.code.startswith("upstream") or exc.code == "not_found"
            else Outcome.DENIED
        )
        record.reason = exc.code
        record.status = exc.status_code
        raise
    finally:
        if grant is not None and record.outcome != Outcome.DENIED:
            # The vault marks the connection used whenever it hands out its token.
            touch(grant, connection if record.upstream_status is None else None)
        record_call(record=record, token=token, grant=grant, request=request)
