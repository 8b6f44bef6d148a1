"""Held writes, the broker's side: hold one (consent.pending.create), show one to its app, and
perform an approved one. Every change of state is a transition of :mod:`consent.pending`."""

from __future__ import annotations

from django.urls import reverse

from broker import exceptions, upstream
from broker.policy import CallFacts, decide_approved_write
from broker.provider_calls import perform
from broker.records import BrokerResult, CallRecord, refuse, touch
from broker.selectors import connection_facts, connection_for, grant_facts
from connections.providers import Operation, all_operations
from consent import pending
from consent.models import PendingAction

State = PendingAction.Status


def downstream_request(*, operation: Operation, grant, params, body) -> dict:
    """The provider request as :func:`broker.provider_calls.perform` will send it, for the
    person to see before approving: method, URL and body (never a token)."""
    payload = operation.body(body, params)
    try:
        _connection, provider = connection_for(grant=grant, service=operation.service)
        base = provider.api_base_url if provider is not None else ""
    except exceptions.BrokerError:
        base = ""
    try:
        url = upstream.build_url(
            base or "https://provider.invalid",
            operation.upstream_path,
            params,
            path_params=operation.path_params,
            query=operation.query(params),
        )
    except (ValueError, KeyError):
        url = operation.upstream_path
    if not base:
        url = url.removeprefix("https://provider.invalid")
    return {"method": operation.http_method, "url": url, "body": payload}


def pending_action_create(*, operation: Operation, grant, params, body, resource, background):
    action = pending.create(
        downstream=downstream_request(operation=operation, grant=grant, params=params, body=body),
        grant=grant,
        operation=operation.name,
        service=operation.service,
        scope=operation.scope,
        resource=resource,
        summary=f"{operation.summary}: {resource}",
        params=params,
        body=body,
        background=background,
    )
    return BrokerResult(status=202, data={"pending_action": pending_action_view(action)})


def pending_action_view(action: PendingAction) -> dict:
    status = pending.status_now(action)
    view = {
        "id": action.pk,
        "status": status,
        "status_url": reverse("broker:action", args=[action.pk]),
        "operation": action.operation,
        "service": action.service,
        "resource": action.resource,
        "created_at": action.created_at.isoformat(),
        "expires_at": action.expires_at.isoformat(),
    }
    if status in {State.PERFORMED, State.FAILED, State.OUTCOME_UNKNOWN}:
        view["result"] = {
            "upstream_status": action.result_status,
            "data": action.result if status == State.PERFORMED else None,
            "error": action.error_code or None,
        }
    return view


def pending_action_perform(*, action_id: int) -> str:
    """Perform an approved pending action exactly once; return its final status.

    ``consent.pending.claim`` locks the row and moves it to *performing* before the provider is
    called, so a second signal, a double click or a retried task finds it claimed and does
    nothing. An action past its expiry becomes *expired* there and is never performed. The grant
    is checked as it is now (revoked, narrowed or disconnected since the approval: failed).
    """
    action, claimed = pending.claim(action_id=action_id)
    if not claimed:
        return action.status if action is not None else "missing"
    operation = all_operations().get(action.operation)
    grant = action.grant
    record = CallRecord(operation=action.operation, scope=action.scope, service=action.service)
    record.resource = action.resource
    record.background = False
    connection = None
    try:
        if operation is None:
            raise exceptions.InvalidRequest("unknown operation")
        gfacts = grant_facts(grant)
        connection, provider = connection_for(grant=grant, service=operation.service)
        decision = decide_approved_write(
            grant=gfacts,
            connection=connection_facts(connection, provider, grant),
            call=CallFacts(
                scope=operation.scope,
                service=operation.service,
                is_write=True,
                resource_kind=operation.resource_kind,
                resource=operation.resource_of(action.params),
            ),
            now=action.executed_at,
        )
        if not decision.allowed:
            raise refuse(decision)
        outcome = perform(
            operation=operation,
            grant=grant,
            gfacts=gfacts,
            connection=connection,
            provider=provider,
            params=dict(action.params),
            query={},
            body=dict(action.body),
            record=record,
            # Approved a while ago: the grant is read again before the write goes out.
            recheck_first=True,
        )
    except exceptions.BrokerError as exc:
        return pending.finish(
            action=action, performed=False, upstream_status=record.upstream_status, error=exc.code
        )
    status = pending.finish(
        action=action,
        performed=True,
        result=(outcome.data or {}).get("data"),
        upstream_status=record.upstream_status,
    )
    touch(grant, connection)
    return status
