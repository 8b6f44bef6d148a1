"""The approvals page (``/consent/approvals/``): held writes waiting for the person, with the
request shown as it will be sent, the approve / reject buttons and standing approvals
(``consent.pending``)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from consent import pending, selectors, services
from consent.catalog import (
    CATALOG,
    SERVICES,
)
from consent.models import PendingAction, StandingApproval


@login_required
@require_http_methods(["GET"])
def approvals(request):
    actions = list(selectors.pending_actions_for(request.user)[:100])
    now = timezone.now()
    waiting = [a for a in actions if a.status == PendingAction.Status.CREATED]
    decided = [a for a in actions if a.status != PendingAction.Status.CREATED][:30]
    standing = [
        a
        for a in StandingApproval.objects.filter(grant__user=request.user, ended_at__isnull=True)
        .select_related("grant__app")
        .order_by("-created_at")[:50]
        if a.is_active(now)
    ]
    return render(
        request,
        "consent/approvals.html",
        {
            "waiting": [_action_view(a, now) for a in waiting],
            "decided": [_action_view(a, now) for a in decided],
            # Writes whose worker stopped mid-way (consent.pending.strand): the person must look.
            "unknown": [
                _action_view(a, now)
                for a in actions
                if a.status == PendingAction.Status.OUTCOME_UNKNOWN
            ],
            "standing": standing,
        },
    )


def _action_view(action: PendingAction, now):
    scope = CATALOG.get(action.scope)
    body = action.body if isinstance(action.body, dict) else {"value": action.body}
    return {
        "action": action,
        "app": action.grant.app,
        "service": SERVICES.get(action.service),
        "scope": scope,
        "expired": action.status == PendingAction.Status.CREATED
        and pending.is_expired(action, now),
        "body_items": [(str(k), _readable(v)) for k, v in body.items()],
        "params_items": [(str(k), _readable(v)) for k, v in (action.params or {}).items()],
        "downstream": action.downstream or {},
        "downstream_body": _readable((action.downstream or {}).get("body", action.body) or {}),
    }


def _readable(value) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@login_required
@require_POST
def approval_decide(request, pk: int):
    decision = request.POST.get("decision")
    if decision not in ("approve", "approve_similar", "reject"):
        return HttpResponseBadRequest("Choose approve or reject.")
    try:
        if decision in ("approve", "approve_similar"):
            similar = decision == "approve_similar"
            services.pending_action_approve(
                action_id=pk, user=request.user, request=request, similar_for_24h=similar
            )
            messages.success(
                request,
                "Approved: the platform is performing it now."
                + (
                    " Similar requests by this app on the same place are approved for 24 hours;"
                    " you can end that early below."
                    if similar
                    else ""
                ),
            )
        else:
            services.pending_action_reject(action_id=pk, user=request.user, request=request)
            messages.info(request, "Rejected: the app is told it may not do this.")
    except services.PendingActionError as problem:
        messages.error(request, str(problem))
    return redirect("consent:approvals")


@login_required
@require_POST
def standing_approval_end(request, pk: int):
    try:
        services.standing_approval_end(approval_id=pk, user=request.user, request=request)
        messages.success(request, "Ended: later requests wait for your approval again.")
    except services.PendingActionError as problem:
        messages.error(request, str(problem))
    target = request.POST.get("next", "")
    return redirect(
        target if target in ("/access/", "/consent/approvals/") else "consent:approvals"
    )
