"""Connected services pages: list, connect, upgrade. Thin: services do the work.

Disconnecting (which says which apps lose access, a consent fact) is a Your access page:
``access.views.disconnect``, still at ``/connections/<id>/disconnect/``.
"""

from __future__ import annotations

import re

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from connections.models import Connection
from connections.providers import UnknownProvider, available_providers, get_provider
from connections.selectors import connections_for_user
from connections.services import connection_start

SCOPE_RE = re.compile(r"^[A-Za-z0-9:._/\-]{1,200}$")
MAX_SCOPES = 20


class BadRequest(Exception):
    pass


def _bad(request, message: str, status: int = 400):
    return render(request, "connections/bad_request.html", {"message": message}, status=status)


def _scopes(request) -> list[str]:
    raw = request.GET.get("scopes", "") or request.POST.get("scopes", "")
    scopes = [s.strip() for s in raw.split(",") if s.strip()]
    if len(scopes) > MAX_SCOPES or any(not SCOPE_RE.match(s) for s in scopes):
        raise BadRequest("The requested provider scopes are not valid.")
    return list(dict.fromkeys(scopes))


def _next(request) -> str:
    raw = request.GET.get("next", "") or request.POST.get("next", "")
    if not raw:
        return ""
    if (
        not raw.startswith("/")
        or raw.startswith("//")
        or "\\" in raw
        or not url_has_allowed_host_and_scheme(raw, allowed_hosts={request.get_host()})
    ):
        raise BadRequest("The return address must be a page of this site.")
    return raw


@login_required
def connection_list(request):
    connections = list(connections_for_user(user=request.user))
    providers = available_providers()
    names = {p.id: p for p in providers}
    rows = [(c, names.get(c.provider)) for c in connections]
    return render(request, "connections/list.html", {"rows": rows, "providers": providers})


@login_required
@require_http_methods(["GET", "POST"])
def connect(request, provider: str):
    try:
        spec = get_provider(provider)
        if spec not in available_providers():
            raise UnknownProvider(provider)
        scopes = _scopes(request)
        next_url = _next(request)
    except UnknownProvider:
        return _bad(request, "This service cannot be connected here.", 404)
    except BadRequest as exc:
        return _bad(request, str(exc))
    if request.method == "POST":
        return connection_start(request, provider_id=spec.id, scopes=scopes, next_url=next_url)
    requested = list(dict.fromkeys([*spec.default_scopes, *scopes]))
    return render(
        request,
        "connections/connect.html",
        {"provider": spec, "scopes": requested, "scopes_param": ",".join(scopes), "next": next_url},
    )


@login_required
@require_http_methods(["GET", "POST"])
def upgrade(request, pk: int):
    connection = get_object_or_404(Connection, pk=pk, user=request.user)
    if connection.status == Connection.Status.REVOKED:
        return _bad(request, "This connection was disconnected; connect the service again instead.")
    try:
        spec = get_provider(connection.provider)
        scopes = _scopes(request)
        next_url = _next(request)
    except UnknownProvider:
        return _bad(request, "This service cannot be connected here.", 404)
    except BadRequest as exc:
        return _bad(request, str(exc))
    added = [s for s in scopes if s not in connection.scopes]
    if request.method == "POST":
        return connection_start(
            request, provider_id=spec.id, scopes=scopes, next_url=next_url, connection=connection
        )
    return render(
        request,
        "connections/upgrade.html",
        {
            "connection": connection,
            "provider": spec,
            "added": added,
            "scopes_param": ",".join(scopes),
            "next": next_url,
            "needs_reauth": connection.status == Connection.Status.NEEDS_REAUTH,
        },
    )
