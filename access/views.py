"""The "Your access" pages. Thin: selectors read, consent/connections services write."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from access.forms import ActivityFilterForm, NarrowGrantForm, RevokeForm
from access.revocation import plan_revocation, revocation_execute
from access.selectors import access_overview, describe
from audit.selectors import ActivityFilter, activity
from consent.services import grant_narrow


@login_required
def dashboard(request):
    overview = access_overview(user=request.user)
    form = ActivityFilterForm(request.GET or None, apps=overview.apps)
    filters = ActivityFilter()
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        until = ActivityFilterForm.start_of(data["until"])
        filters = ActivityFilter(
            app_id=data["app"],
            service=data["service"],
            since=ActivityFilterForm.start_of(data["since"]),
            until=until and until.replace(hour=23, minute=59, second=59, microsecond=999999),
            before_id=data["before"],
        )
    events = activity(user=request.user, filters=filters) if not form.errors else []
    lines = [(event, describe(event, viewer=request.user)) for event in events]
    older = None
    if len(events) == 50:
        query = request.GET.copy()
        query["before"] = events[-1].pk
        older = query.urlencode()
    return render(
        request,
        "access/dashboard.html",
        {"overview": overview, "form": form, "lines": lines, "older": older},
    )


def _plan_or_404(request, **kwargs):
    overview = access_overview(user=request.user)
    try:
        return plan_revocation(overview, **kwargs)
    except LookupError:
        raise Http404("Not one of your apps or connections.") from None


@require_http_methods(["GET", "POST"])
@login_required
def revoke(request, kind, pk):
    """Confirmation (GET) and revocation (POST) of an app's access ("app"), a connection
    ("connection"), or an app's access together with the connections it uses ("app-and-services").
    """
    if kind == "app":
        plan = _plan_or_404(request, grant_id=pk)
    elif kind == "connection":
        plan = _plan_or_404(request, connection_ids=[pk])
    elif kind == "app-and-services":
        grant_plan = _plan_or_404(request, grant_id=pk)
        ids = [s.connection.id for s in grant_plan.grant.services if s.connection is not None]
        plan = _plan_or_404(request, grant_id=pk, connection_ids=ids)
    else:
        raise Http404("Unknown kind of revocation.")
    if request.method == "POST":
        form = RevokeForm(request.POST)
        if form.is_valid():
            revocation_execute(plan=plan, actor=request.user, reason="Revoked from Your access")
            messages.success(request, _done_message(plan))
            return redirect("access:dashboard")
    return render(request, "access/revoke_confirm.html", {"plan": plan, "kind": kind})


def _done_message(plan) -> str:
    parts = []
    if plan.grant is not None:
        parts.append(f"{plan.grant.app.name} no longer has access")
    for connection in plan.connections:
        parts.append(f"{connection.provider_name} ({connection.connection.login}) is disconnected")
    return "; ".join(parts) + "."


@require_http_methods(["GET", "POST"])
@login_required
def narrow(request, pk):
    overview = access_overview(user=request.user)
    grant_view = next((g for g in overview.grants if g.id == pk), None)
    if grant_view is None:
        raise Http404("Not one of your apps.")
    form = NarrowGrantForm(request.POST or None, grant=grant_view.grant)
    if request.method == "POST" and form.is_valid():
        grant_narrow(
            grant=grant_view.grant,
            actor=request.user,
            remove_scopes=form.cleaned_data["remove_scopes"],
            remove_resources=form.cleaned_data["resources_by_scope"],
            reason="Narrowed from Your access",
        )
        messages.success(request, f"{grant_view.app.name}'s access was narrowed; the rest works.")
        return redirect("access:dashboard")
    return render(request, "access/narrow.html", {"grant": grant_view, "form": form})
