"""The "Your access" pages. Thin: selectors read, consent/connections services write."""

import contextlib
import datetime as dt

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from access.activity import POLL_OPERATIONS, by_day, digest
from access.forms import ActivityFilterForm, NarrowGrantForm, RevokeForm
from access.grid import access_grid, past_apps
from access.revocation import plan_revocation, revocation_execute
from access.selectors import access_overview
from audit.selectors import ActivityFilter, activity
from connections.models import Connection
from connections.providers import UnknownProvider, get_provider
from connections.selectors import connection_for_user
from connections.services import connection_disconnect
from consent.selectors import grants_using_connection
from consent.services import grant_narrow

# A visit that starts this long after the last one opens a new "while you were away" window.
NEW_VISIT_AFTER = dt.timedelta(minutes=30)
FIRST_DIGEST_WINDOW = dt.timedelta(days=7)
DIGEST_SESSION_KEY = "access.digest_since"


def _digest_since(request, now):
    """The start of "while you were away": the person's previous visit (kept for this visit,
    so reloading the page does not empty it)."""
    seen = request.user.access_seen_at
    stored = request.session.get(DIGEST_SESSION_KEY)
    if seen is None or now - seen > NEW_VISIT_AFTER or stored is None:
        since = seen or now - FIRST_DIGEST_WINDOW
        request.session[DIGEST_SESSION_KEY] = since.isoformat()
    else:
        since = dt.datetime.fromisoformat(stored)
    get_user_model().objects.filter(pk=request.user.pk).update(access_seen_at=now)
    return since


@login_required
def dashboard(request):
    now = timezone.now()
    overview = access_overview(user=request.user, now=now)
    columns, rows = access_grid(overview)
    rows = [r for r in rows if not r.grant.expired]
    form = ActivityFilterForm(request.GET or None, apps=overview.apps)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        until = ActivityFilterForm.start_of(data["until"])
        filters = ActivityFilter(
            app_id=data["app"],
            service=data["service"],
            since=ActivityFilterForm.start_of(data["since"]),
            until=until and until.replace(hour=23, minute=59, second=59, microsecond=999999),
            before_id=data["before"],
            hide_operations=POLL_OPERATIONS,
        )
    else:
        filters = ActivityFilter(hide_operations=POLL_OPERATIONS)
    events = activity(user=request.user, filters=filters) if not form.errors else []
    older = None
    if len(events) == 50:
        query = request.GET.copy()
        query["before"] = events[-1].pk
        older = query.urlencode()
    since = _digest_since(request, now)
    return render(
        request,
        "access/dashboard.html",
        {
            "overview": overview,
            "columns": columns,
            "rows": rows,
            "past": past_apps(overview.all_grants, now=now),
            "form": form,
            "days": by_day(events, viewer=request.user, now=now),
            "older": older,
            "digest": digest(user=request.user, since=since, until=now),
            "time_zone": timezone.get_current_timezone_name(),
        },
    )


@require_POST
@login_required
def revoke_cell(request, pk, service):
    """Take one service away from one app (one cell of the grid); the rest keeps working."""
    overview = access_overview(user=request.user)
    grant_view = next((g for g in overview.grants if g.id == pk), None)
    if grant_view is None:
        raise Http404("Not one of your apps.")
    names = [s.name for s in grant_view.scopes if s.service == service]
    if not names:
        raise Http404("This app has no access to that service.")
    if request.POST.get("confirmed") != "yes":
        messages.error(request, "Nothing changed: confirm first.")
        return redirect("access:dashboard")
    remaining = [s for s in grant_view.scopes if s.service not in (None, service)]
    if not remaining:
        # Its last service: nothing would be left to use, so the whole access ends.
        plan = plan_revocation(overview, grant_id=pk)
        revocation_execute(plan=plan, actor=request.user, reason="Revoked from Your access")
        messages.success(request, f"{grant_view.app.name} no longer has access.")
        return redirect("access:dashboard")
    grant_narrow(
        grant=grant_view.grant,
        actor=request.user,
        remove_scopes=names,
        reason="Service removed from Your access",
    )
    label = next((u.service_name for u in grant_view.services if u.service == service), service)
    messages.success(request, f"{grant_view.app.name} no longer has access to {label}.")
    return redirect("access:dashboard")


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


@login_required
@require_http_methods(["GET", "POST"])
def disconnect(request, pk: int):
    connection = connection_for_user(user=request.user, pk=pk)
    if connection is None:
        raise Http404("Not one of your connections.")
    if connection.status == Connection.Status.REVOKED:
        return redirect("connections:list")
    if request.method == "POST":
        row = connection_disconnect(connection=connection, actor=request.user, request=request)
        if "revocation failed" in row.status_reason:
            messages.warning(
                request,
                f"{connection} is disconnected and its tokens are destroyed, but the provider could "
                "not be told; you may also remove the app in the provider's settings.",
            )
        else:
            messages.success(request, f"{connection} is disconnected.")
        return redirect("connections:list")
    spec = None
    with contextlib.suppress(UnknownProvider):
        spec = get_provider(connection.provider)
    return render(
        request,
        "access/disconnect.html",
        {
            "connection": connection,
            "provider": spec,
            "grants": grants_using_connection(connection=connection),
        },
    )
