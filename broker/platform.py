"""The platform's own endpoints on the broker's API: /me, /token (what may this token do now?)
and /actions/{id} (an app's own pending action). Each is one brokered call with a handler."""

from __future__ import annotations

from apps_registry.audience import API as API_AUDIENCE
from broker import exceptions
from broker.call import broker_call
from broker.pending import pending_action_view
from broker.policy import BACKGROUND_SCOPE, UNATTENDED_WRITES_SCOPE
from broker.records import BrokerResult
from broker.selectors import connection_for
from consent.catalog import get_scope
from consent.models import PendingAction
from identity.selectors import verified_email


def me_view(*, token, grant, decision) -> BrokerResult:
    """The person: ``email`` only ever a verified address (null if they verified none), and
    ``email_verified`` saying which; an app must not take an unverified address as identity."""
    person = grant.user
    email = verified_email(person)
    return BrokerResult(
        status=200,
        data={
            "id": person.pk,
            "name": person.name,
            "email": email,
            "email_verified": email is not None,
        },
    )


def token_view(*, request) -> BrokerResult:
    """What this token may do now: scopes, services, resources, background, expiry."""

    def handler(*, token, grant, decision):
        scopes = sorted(decision.effective_scopes)
        services = {}
        for scope_name in scopes:
            scope = get_scope(scope_name)
            if scope is None or scope.service is None or scope.service in services:
                continue
            connection, provider = connection_for(grant=grant, service=scope.service)
            usable = bool(
                connection
                and provider
                and connection.user_id == grant.user_id
                and connection.is_active
                and provider.service == scope.service
            )
            services[scope.service] = {
                "provider": provider.id if usable else None,
                "connection_active": usable,
            }
        resources = {
            s: [
                {"id": item.get("id"), "label": item.get("label", "")}
                for item in (grant.resources or {}).get(s, [])
            ]
            for s in scopes
            if get_scope(s) and get_scope(s).resource_kind
        }
        return BrokerResult(
            status=200,
            data={
                "grant": grant.pk,
                "scopes": scopes,
                "services": services,
                "resources": resources,
                "background": decision.background,
                "background_allowed": BACKGROUND_SCOPE in grant.scopes,
                "unattended_writes": UNATTENDED_WRITES_SCOPE in decision.effective_scopes,
                "expires_at": token.expires.isoformat(),
                "grant_expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
            },
        )

    # No particular scope: any live grant may ask what it can do.
    return broker_call(
        request=request, operation=None, scope=None, name="platform.token", handler=handler
    )


def me(*, request) -> BrokerResult:
    return broker_call(
        request=request,
        operation=None,
        scope="identity.profile.read",
        name="platform.me",
        handler=me_view,
    )


def action_status(*, request, action_id: int, audience: str = API_AUDIENCE) -> BrokerResult:
    """The app's own pending action: status and, when done, the outcome."""

    def handler(*, token, grant, decision):
        action = PendingAction.objects.filter(pk=action_id, grant_id=grant.pk).first()
        if action is None:
            raise exceptions.NotFound("This app has no pending action with that id.")
        return BrokerResult(status=200, data={"pending_action": pending_action_view(action)})

    return broker_call(
        request=request,
        operation=None,
        scope=None,
        name="platform.action",
        handler=handler,
        audience=audience,
    )
