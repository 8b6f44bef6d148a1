"""What the consent screen shows: the app, each service's accounts, scopes and resource pickers,
and the links to connect or upgrade a service and come back. Built from the engine's decision;
the view (``consent.views.AuthorizeView``) only renders it."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from consent import selectors
from consent.catalog import (
    BACKGROUND_SCOPE,
    CATALOG,
    RESOURCE_KINDS,
    SERVICES,
    UNATTENDED_WRITES_SCOPE,
    provider_scope_words,
)
from consent.engine import (
    Outcome,
    decide,
)
from consent.models import Grant

ASKED = (Outcome.NEW, Outcome.DECLINED)
RESOURCES_SHOWN = 50

PLATFORM_EXPLANATIONS = {
    BACKGROUND_SCOPE: (
        "Without this, the app can act only for a short while after you approve it, while you "
        "are using it. With it, the app may keep acting when you are away (scheduled syncs, long "
        "tasks), until the access you choose below ends. Every such use is marked in your "
        "activity."
    ),
    UNATTENDED_WRITES_SCOPE: (
        "Without this, every change the app wants to make waits for you on the Approvals page. "
        "With it, the app makes changes in the selected places without asking you each time."
    ),
}
DURATION_HELP = {
    Grant.Duration.SESSION: "ends soon after you stop using the app",
    Grant.Duration.HOUR: "ends one hour from now",
    Grant.Duration.MONTH: "ends in 30 days",
    Grant.Duration.FOREVER: "until you revoke it on the Your access page",
}


def _safe_url(url: str) -> str:
    """Only http(s) links reach the page: a stored ``javascript:`` URL is dropped."""
    from urllib.parse import urlsplit

    return url if url and urlsplit(url).scheme in ("http", "https") else ""


def app_context(app) -> dict:
    links = [
        (label, _safe_url(url))
        for label, url in (
            ("Website", app.homepage_url),
            ("Privacy policy", app.privacy_policy_url),
            ("Terms", app.terms_url),
        )
    ]
    return {
        "app": app,
        "publisher": app.publisher,
        "publisher_website": _safe_url(app.publisher.website),
        "app_links": [(label, url) for label, url in links if url],
    }


# ---- links to the connections layer -------------------------------------------------------------


def _resume_url(rid: str) -> str:
    return f"{reverse('oauth2_provider:authorize')}?{urlencode({'request': rid})}"


def _connect_url(provider: str, scopes, rid: str) -> str:
    base = reverse("connections:connect", args=[provider])
    return f"{base}?{urlencode({'scopes': ','.join(scopes), 'next': _resume_url(rid)})}"


def _upgrade_url(connection_id: int, scopes, rid: str) -> str:
    base = reverse("connections:upgrade", args=[connection_id])
    return f"{base}?{urlencode({'scopes': ','.join(scopes), 'next': _resume_url(rid)})}"


# ---- the screen -----------------------------------------------------------------------------------


def screen_decision(request, app, scopes: list[str], prompt_consent: bool):
    grant = selectors.grant_for(request.user, app)
    rows, infos = selectors.person_connections(request.user)
    decision = decide(
        app=selectors.app_info(app),
        requested=scopes,
        connections=infos,
        grant=selectors.grant_info(grant),
        now=_now(),
        available_providers=selectors.available_provider_ids(),
        prompt_consent=prompt_consent,
    )
    return decision, grant, {c.pk: c for c in rows}, infos


def _now():
    from django.utils import timezone

    return timezone.now()


def screen_context(
    request, *, app, decision, grant, rows, infos, rid, form=None, error="", preselect=None
):
    """Everything the template shows, worked out here so the template only lays it out.
    ``preselect`` (scope -> resource ids, from RFC 9396 ``authorization_details``) is ticked on
    top of what the grant already selects."""
    info_by_id = {c.id: c for c in infos}
    previous = dict(grant.resources) if grant is not None else {}
    for scope_name, ids in (preselect or {}).items():
        previous[scope_name] = [*previous.get(scope_name, []), *({"id": i} for i in ids)]
    groups = []
    platform_choices = []
    profile = []
    for d in decision.scopes:
        scope = CATALOG.get(d.name)
        if d.is_platform_choice:
            platform_choices.append(
                {
                    "decision": d,
                    "scope": scope,
                    "explanation": PLATFORM_EXPLANATIONS.get(d.name, ""),
                    "checked": d.outcome == Outcome.GRANTED
                    or (form is not None and d.name in form.getlist("accept")),
                }
            )
        elif scope is None or scope.service is None:
            profile.append(_scope_row(d, scope, form))
    for service in dict.fromkeys(d.service for d in decision.scopes if d.service):
        groups.append(
            _service_group(service, decision, grant, rows, info_by_id, infos, previous, rid, form)
        )
    durations = [
        {
            "value": value,
            "label": label,
            "help": DURATION_HELP[value],
            "checked": value
            == (
                form.get("duration")
                if form is not None and form.get("duration")
                else (grant.duration if grant and decision.grant_live else Grant.Duration.SESSION)
            ),
        }
        for value, label in Grant.Duration.choices
    ]
    return {
        **app_context(app),
        "decision": decision,
        "groups": groups,
        "profile_rows": profile,
        "platform_choices": platform_choices,
        "durations": durations,
        "rid": rid,
        "error": error,
        "granted_count": len(decision.by_outcome(Outcome.GRANTED)),
        "new_count": len([d for d in decision.scopes if d.outcome != Outcome.GRANTED]),
        "grant_live": decision.grant_live,
        "session_minutes": int(settings.SESSION_GRANT_WINDOW.total_seconds() // 60),
        "unattended": UNATTENDED_WRITES_SCOPE
        in (grant.scopes if grant and decision.grant_live else ())
        or UNATTENDED_WRITES_SCOPE in (form.getlist("accept") if form is not None else ()),
    }


def _service_pool(service, plan, infos) -> list:
    """The person's active accounts for ``service`` the app may use (only the pinned one, if any)."""
    active = [c for c in infos if c.service == service and c.is_active]
    if plan is not None and plan.pinned is not None:
        return [c for c in active if c.id == plan.pinned]
    return active


def _shown_account(plan, pool, form) -> int | None:
    """The account whose lists are shown first: the one chosen in the form, else one that serves."""
    ids = [c.id for c in pool]
    raw = form.get(f"connection:{plan.service}") if form is not None and plan else None
    if raw and raw.isdigit() and int(raw) in ids:
        return int(raw)
    if plan is not None and plan.candidates:
        return plan.candidates[0]
    return ids[0] if ids else None


def _provider_scope_list(names) -> list[dict]:
    return [{"name": n, "words": provider_scope_words(n)} for n in names]


def _service_group(service, decision, grant, rows, info_by_id, infos, previous, rid, form):
    plan = decision.service(service)
    pool = _service_pool(service, plan, infos)
    shown = _shown_account(plan, pool, form)
    upgrades = {u.connection_id: u for u in (plan.upgrades if plan else ())}
    serving = set(plan.candidates if plan else ())
    # Every account is offered whenever there are two or more: choosing one shows its lists at
    # once (all are rendered; platform.js shows the chosen one), without asking the server again.
    accounts = []
    for c in pool:
        need = upgrades.get(c.id)
        accounts.append(
            {
                "id": c.id,
                "label": c.label,
                "provider": selectors.provider_name(c.provider),
                "checked": c.id == shown,
                "serves": c.id in serving,
                "upgrade": {
                    "url": _upgrade_url(c.id, need.scopes, rid),
                    "missing": _provider_scope_list(need.missing),
                }
                if need is not None and c.id not in serving
                else None,
            }
        )
    rows_for_service = []
    for d in decision.scopes:
        if d.service != service:
            continue
        scope = CATALOG[d.name]
        row = _scope_row(d, scope, form)
        row["provider_scopes"] = _provider_scope_list(
            sorted({p for names in scope.provider_scopes.values() for p in names})
        )
        kind = scope.resource_kind
        if d.outcome in ASKED and kind:
            row["panels"] = [
                {
                    "account": account,
                    "key": f"{d.name}:{account['id']}",
                    "active": account["id"] == shown,
                    "picker": _resource_picker(
                        d.name,
                        kind,
                        rows[account["id"]],
                        previous.get(d.name, []),
                        form if account["id"] == shown else None,
                    ),
                }
                for account in accounts
                if account["serves"] and account["id"] in rows
            ]
        elif d.outcome == Outcome.GRANTED and kind:
            row["granted_resources"] = grant.resources.get(d.name, []) if grant else []
        rows_for_service.append(row)
    fixes = []
    if plan is not None:
        for need in plan.connects:
            fixes.append(
                {
                    "label": f"Connect {SERVICES[service].name}",
                    "detail": selectors.provider_name(need.provider),
                    "url": _connect_url(need.provider, need.scopes, rid),
                    "scopes": _provider_scope_list(need.scopes),
                }
            )
        if not serving:
            # No account can serve the request yet: upgrading one is the way forward. When one
            # can, the others' upgrades are offered beside them in the picker instead.
            for need in plan.upgrades:
                connection = info_by_id.get(need.connection_id)
                fixes.append(
                    {
                        "label": f"Upgrade {SERVICES[service].name} access",
                        "detail": f"{connection.label if connection else ''} "
                        f"({selectors.provider_name(need.provider)})",
                        "url": _upgrade_url(need.connection_id, need.scopes, rid),
                        "scopes": _provider_scope_list(need.missing),
                    }
                )
    writes = any(r["is_write"] for r in rows_for_service)
    using = next((a for a in accounts if a["id"] == shown), None)
    return {
        "service": SERVICES.get(service),
        "verbs": "read and change" if writes else "read",
        "writes": writes,
        "id": service,
        "rows": rows_for_service,
        "fixes": fixes,
        "accounts": accounts if len(accounts) > 1 else [],
        "using": using,
        "has_new": any(r["asked"] for r in rows_for_service),
    }


def _scope_row(d, scope, form):
    accepted = form.getlist("accept") if form is not None else None
    return {
        "decision": d,
        "scope": scope,
        "is_write": bool(scope and scope.is_write),
        # Every optional permission starts off: the person opts in.
        "checked": False if accepted is None else d.name in accepted,
        "asked": d.outcome in ASKED,
    }


def _resource_picker(scope_name, kind, connection, previous, form):
    listing = selectors.list_resources(connection, kind)
    singular, plural = RESOURCE_KINDS.get(kind, (kind, kind + "s"))
    if form is not None:
        selected = set(form.getlist(f"resource:{scope_name}"))
        query = form.get(f"search:{scope_name}", "").strip()
    else:
        selected = {r["id"] for r in previous}
        query = ""
    available_ids = {item["id"] for item in listing.items}
    selected &= available_ids
    matches = [
        item
        for item in listing.items
        if not query
        or query.lower() in item["label"].lower()
        or query.lower() in item["id"].lower()
    ]
    shown = [item for item in listing.items if item["id"] in selected]
    shown += [item for item in matches if item["id"] not in selected][:RESOURCES_SHOWN]
    return {
        "items": [dict(item, checked=item["id"] in selected) for item in shown],
        "selected": [item for item in listing.items if item["id"] in selected],
        "hidden_count": max(0, len(matches) - len(shown)),
        "total": len(listing.items),
        "query": query,
        "error": listing.error,
        "singular": singular,
        "plural": plural,
        "searchable": len(listing.items) > 10 or bool(query),
    }
