"""The authorization endpoint (``/oauth/authorize/``): the platform's consent screen, and the
approvals page for held write actions (``/consent/approvals/``).

The authorization request is validated by django-oauth-toolkit and the platform's validator
(client, redirect URI, PKCE, scopes) before anything else happens; errors before a valid
``redirect_uri`` is known are a page, errors after it are RFC 6749 redirects. A validated request
is kept in the person's session under a random id, so the screen can send the person to connect
or upgrade a service and come back to the same request; the approval form carries only that id.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_http_methods, require_POST
from oauth2_provider.exceptions import FatalClientError, OAuthToolkitError
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import AuthorizationView
from oauthlib.common import add_params_to_uri

from apps_registry import audience
from apps_registry.models import App
from apps_registry.oauth import canonical_scopes
from consent import pending, rar, selectors, services
from consent.catalog import (
    BACKGROUND_SCOPE,
    CATALOG,
    RESOURCE_KINDS,
    SERVICES,
    UNATTENDED_WRITES_SCOPE,
    provider_scope_words,
)
from consent.engine import (
    ChoiceError,
    Outcome,
    decide,
    resolve_approval,
)
from consent.models import Grant, PendingAction, StandingApproval

SESSION_KEY = "consent.requests"
ASKED = (Outcome.NEW, Outcome.DECLINED)
REQUEST_MAX_AGE_SECONDS = 30 * 60
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


def _app_context(app) -> dict:
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


# ---- pending requests in the session -----------------------------------------------------------


def _stored_requests(request) -> dict:
    return request.session.get(SESSION_KEY, {})


def _store_request(request, *, query: str, scopes: list[str], credentials: dict, details=()) -> str:
    entries = _stored_requests(request)
    now = time.time()
    entries = {
        k: v
        for k, v in entries.items()
        if now - v.get("created", 0) < REQUEST_MAX_AGE_SECONDS and v.get("query") != query
    }
    rid = secrets.token_urlsafe(16)
    entries[rid] = {
        "query": query,
        "scopes": list(scopes),
        "credentials": {
            k: v
            for k, v in credentials.items()
            if k
            in (
                "client_id",
                "redirect_uri",
                "response_type",
                "state",
                "code_challenge",
                "code_challenge_method",
                "nonce",
                # RFC 8707: the token's audience, carried to the code and from it to the token.
                "resource",
            )
            and v is not None
        },
        # RFC 9396: resources the app named, preselected on the screen.
        "authorization_details": [
            {"type": d.type, "actions": list(d.actions), "identifier": d.identifier}
            for d in details
        ],
        "user": request.user.pk,
        "created": now,
    }
    limit = getattr(settings, "CONSENT_PENDING_REQUESTS_PER_SESSION", 10)
    if len(entries) > limit:
        for old in sorted(entries, key=lambda k: entries[k]["created"])[: len(entries) - limit]:
            entries.pop(old)
    request.session[SESSION_KEY] = entries
    return rid


def _load_request(request, rid: str) -> dict | None:
    entry = _stored_requests(request).get(rid or "")
    if entry is None or entry.get("user") != request.user.pk:
        return None
    if time.time() - entry.get("created", 0) >= REQUEST_MAX_AGE_SECONDS:
        return None
    return entry


def _forget_request(request, rid: str) -> None:
    entries = _stored_requests(request)
    if entries.pop(rid, None) is not None:
        request.session[SESSION_KEY] = entries


# ---- links to the connections layer -------------------------------------------------------------


def _resume_url(rid: str) -> str:
    return f"{reverse('oauth2_provider:authorize')}?{urlencode({'request': rid})}"


def _connect_url(provider: str, scopes, rid: str) -> str:
    try:
        base = reverse("connections:connect", args=[provider])
    except NoReverseMatch:
        base = f"/connections/connect/{provider}/"
    return f"{base}?{urlencode({'scopes': ','.join(scopes), 'next': _resume_url(rid)})}"


def _upgrade_url(connection_id: int, scopes, rid: str) -> str:
    try:
        base = reverse("connections:upgrade", args=[connection_id])
    except NoReverseMatch:
        base = f"/connections/{connection_id}/upgrade/"
    return f"{base}?{urlencode({'scopes': ','.join(scopes), 'next': _resume_url(rid)})}"


# ---- the screen -----------------------------------------------------------------------------------


def _decide(request, app, scopes: list[str], prompt_consent: bool):
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


def _screen_context(
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
        **_app_context(app),
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


class AuthorizeView(AuthorizationView):
    template_name = "consent/authorize.html"
    error_template_name = "consent/authorize_error.html"

    # ---- errors -----------------------------------------------------------------------------
    def _error(self, error, application):
        """RFC 6749 4.1.2.1: redirect only to a validated redirect URI; otherwise a page."""
        oauthlib_error = error.oauthlib_error
        if isinstance(error, FatalClientError) or not oauthlib_error.redirect_uri:
            suspended = self._suspended_app()
            if suspended is not None:
                return self._render_suspended(suspended)
            return render(
                self.request,
                self.error_template_name,
                {
                    "error": oauthlib_error.error,
                    "description": oauthlib_error.description,
                },
                status=oauthlib_error.status_code or 400,
            )
        redirect_uri = oauthlib_error.redirect_uri
        separator = "&" if "?" in redirect_uri else "?"
        uri = redirect_uri + separator + oauthlib_error.urlencoded
        if oauth2_settings.COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS:
            # RFC 9207 2: error responses name the issuer too, not only successful ones.
            uri = add_params_to_uri(
                uri, [("iss", oauth2_settings.oauth2_authorization_server_issuer(self.request))]
            )
        return self.redirect(uri, application)

    def _suspended_app(self) -> App | None:
        client_id = self.request.GET.get("client_id") or ""
        if not client_id or len(self.request.GET.getlist("client_id")) != 1:
            return None
        app = App.objects.select_related("publisher").filter(client__client_id=client_id).first()
        return app if app is not None and app.is_suspended else None

    def _render_suspended(self, app):
        return render(
            self.request,
            "consent/suspended.html",
            _app_context(app),
            status=403,
        )

    # ---- GET: validate, then show the screen or issue a code ----------------------------------
    def get(self, request, *args, **kwargs):
        rid = request.GET.get("request")
        if rid is not None and len(request.GET) == 1:
            entry = _load_request(request, rid)
            if entry is None:
                return render(
                    request,
                    self.error_template_name,
                    {
                        "error": "request_expired",
                        "description": "This sign-in request has expired. Go back to the app "
                        "and start again.",
                    },
                    status=400,
                )
            return HttpResponseRedirect(f"{reverse('oauth2_provider:authorize')}?{entry['query']}")
        self._scopes_from_details(request)
        try:
            scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self._error(error, None)
        # RFC 6749 4.1.3: the token request must repeat redirect_uri if this request sent one
        # (the validator remembers, with the code, when it did not).
        credentials["redirect_uri_sent"] = "redirect_uri" in request.GET
        prompt = set(request.GET.get("prompt", "").split())
        if "login" in prompt:
            return self.handle_prompt_login()
        client = get_application_model().objects.get(client_id=credentials["client_id"])
        app = App.objects.select_related("publisher").get(client=client)
        if app.is_suspended:
            return self._render_suspended(app)
        try:
            scopes, details = self._wire_narrowing(request, client, scopes, credentials)
        except OAuthToolkitError as error:
            return self._error(error, client)
        # Details naming a resource for a scope the grant already holds do not reopen the
        # screen (the engine keeps granted scopes as they are): the token's
        # authorization_details say what the app really got.
        decision, grant, rows, infos = _decide(request, app, scopes, "consent" in prompt)
        if not decision.needs_screen:
            try:
                # Only what the grant holds: scopes declined before are not in the code.
                uri, _headers, _body, _status = self.create_authorization_response(
                    request=request,
                    scopes=" ".join(decision.granted_names),
                    credentials=credentials,
                    allow=True,
                )
            except OAuthToolkitError as error:
                return self._error(error, client)
            return self.redirect(uri, client)
        if "none" in prompt:
            # OIDC-style prompt=none: the app asked us not to show a screen, and one is needed.
            from oauthlib.oauth2.rfc6749 import errors

            error = OAuthToolkitError(
                error=errors.ConsentRequired(state=credentials.get("state")),
                redirect_uri=credentials["redirect_uri"],
            )
            return self._error(error, client)
        rid = _store_request(
            request,
            query=request.GET.urlencode(),
            scopes=scopes,
            credentials=credentials,
            details=details,
        )
        services.consent_record_shown(
            user=request.user,
            app=app,
            scopes=list(scopes),
            new=[d.name for d in decision.scopes if d.outcome != Outcome.GRANTED],
            request=request,
        )
        context = _screen_context(
            request,
            app=app,
            decision=decision,
            grant=grant,
            rows=rows,
            infos=infos,
            rid=rid,
            preselect=rar.preselection(details),
        )
        return render(request, self.template_name, context)

    @staticmethod
    def _scopes_from_details(request) -> None:
        """RFC 9396 2: ``authorization_details`` may stand alone; their scopes are the request's
        scope then. Malformed details are refused later, with a redirect to the app."""
        raw = request.GET.getlist("authorization_details")
        if request.GET.get("scope") or len(raw) != 1:
            return
        try:
            scopes = rar.scopes_for(rar.parse(raw[0]))
        except rar.InvalidAuthorizationDetails:
            return
        query = request.GET.copy()
        query["scope"] = " ".join(scopes)
        # django-oauth-toolkit reads the request's URI, not request.GET.
        request.GET = query
        request.META["QUERY_STRING"] = query.urlencode()

    def _wire_narrowing(self, request, client, scopes, credentials):
        """RFC 8707 ``resource`` (only the platform's protected resources) and RFC 9396
        ``authorization_details`` (parsed, their scopes added); errors go back to the app as
        RFC 6749 redirects. ``offline_access`` already reads as background access."""
        from oauthlib.oauth2.rfc6749 import errors

        def refuse(error, description):
            return OAuthToolkitError(
                error=errors.CustomOAuth2Error(
                    error=error,
                    description=description,
                    state=credentials.get("state"),
                ),
                redirect_uri=credentials["redirect_uri"],
            )

        # RFC 8707 lets ``resource`` repeat; django-oauth-toolkit's own view (not used here)
        # would carry it into the credentials, and from there to the code and the token.
        resources = request.GET.getlist("resource")
        if resources:
            credentials["resource"] = resources
        unknown = audience.unknown_resources(resources, request)
        if unknown:
            raise refuse(
                "invalid_target",
                f"Unknown resource {unknown[0]!r}: this platform serves "
                + " and ".join(audience.resource_uri(request, n) for n in audience.NAMES)
                + ".",
            )
        raw = request.GET.getlist("authorization_details")
        if len(raw) > 1:
            raise refuse(rar.ERROR, "authorization_details must not be repeated.")
        try:
            details = rar.parse(raw[0] if raw else None)
        except rar.InvalidAuthorizationDetails as problem:
            raise refuse(rar.ERROR, str(problem)) from None
        wanted = rar.scopes_for(details)
        allowed = self.get_server().request_validator.allowed_scopes(client)
        refused = [s for s in wanted if s not in allowed]
        if refused:
            raise refuse(rar.ERROR, f"This app may not ask for {refused[0]}.")
        return list(dict.fromkeys([*canonical_scopes(scopes), *wanted])), details

    # ---- POST: approve, cancel, or update the screen (account, search) -------------------------
    def post(self, request, *args, **kwargs):
        rid = request.POST.get("request", "")
        entry = _load_request(request, rid)
        if entry is None:
            return render(
                request,
                self.error_template_name,
                {
                    "error": "request_expired",
                    "description": "This sign-in request has expired or was already answered. "
                    "Go back to the app and start again.",
                },
                status=400,
            )
        credentials = dict(entry["credentials"])
        scopes = entry["scopes"]
        client = get_application_model().objects.filter(client_id=credentials["client_id"]).first()
        app = App.objects.select_related("publisher").filter(client=client).first()
        if client is None or app is None:
            _forget_request(request, rid)
            return render(
                request,
                self.error_template_name,
                {"error": "invalid_client", "description": "This app no longer exists."},
                status=400,
            )
        if app.is_suspended:
            _forget_request(request, rid)
            return self._render_suspended(app)
        action = request.POST.get("action", "")
        if action == "cancel":
            _forget_request(request, rid)
            services.consent_record_denied(
                user=request.user, app=app, scopes=list(scopes), request=request
            )
            try:
                self.create_authorization_response(
                    request=request, scopes=" ".join(scopes), credentials=credentials, allow=False
                )
            except OAuthToolkitError as error:
                return self._error(error, client)
            return HttpResponseBadRequest("Unexpected authorization state.")
        decision, grant, rows, infos = _decide(request, app, scopes, True)
        if action == "approve":
            try:
                return self._approve(request, app, client, decision, rows, infos, entry, rid)
            except ChoiceError as problem:
                error = str(problem)
        elif action == "update":
            error = ""
        else:
            return HttpResponseBadRequest("Unknown action.")
        context = _screen_context(
            request,
            app=app,
            decision=decision,
            grant=grant,
            rows=rows,
            infos=infos,
            rid=rid,
            form=request.POST,
            error=error,
        )
        return render(request, self.template_name, context, status=400 if error else 200)

    def _approve(self, request, app, client, decision, rows, infos, entry, rid):
        form = request.POST
        chosen = {}
        for plan in decision.services:
            raw = form.get(f"connection:{plan.service}", "")
            if raw:
                if not raw.isdigit():
                    raise ChoiceError("Choose one of your accounts.")
                chosen[plan.service] = int(raw)
        plan = resolve_approval(
            decision,
            accepted=form.getlist("accept"),
            chosen_connections=chosen,
            connections=infos,
        )
        resources = {}
        for name in plan.added:
            kind = CATALOG[name].resource_kind
            if not kind:
                continue
            connection = rows.get(plan.connections.get(CATALOG[name].service))
            listing = selectors.list_resources(connection, kind)
            singular, plural = RESOURCE_KINDS.get(kind, (kind, kind + "s"))
            if listing.error:
                raise ChoiceError(f"Your {plural} could not be loaded; try again in a moment.")
            by_id = {item["id"]: item for item in listing.items}
            picked = list(dict.fromkeys(form.getlist(f"resource:{name}")))
            if any(p not in by_id for p in picked):
                raise ChoiceError("Select only from the list shown.")
            if not picked:
                ending = ", or leave it out." if decision.get(name).declinable else "."
                raise ChoiceError(
                    f"Select at least one {singular} for “{CATALOG[name].sentence}”{ending}"
                )
            resources[name] = [by_id[p] for p in picked]
        duration = form.get("duration", "")
        if duration not in Grant.Duration.values:
            raise ChoiceError("Choose how long the app keeps this access.")
        credentials = dict(entry["credentials"])
        _forget_request(request, rid)
        try:
            # The code is issued from the stored request, validated again by the validator; if
            # that fails, the grant is not recorded either.
            with transaction.atomic():
                services.grant_approve(
                    user=request.user,
                    app=app,
                    plan=plan,
                    resources=resources,
                    duration=duration,
                    request=request,
                )
                uri, _headers, _body, _status = self.create_authorization_response(
                    request=request,
                    scopes=" ".join(plan.token_scopes),
                    credentials=credentials,
                    allow=True,
                )
        except OAuthToolkitError as error:
            return self._error(error, client)
        return self.redirect(uri, client)


# ---- approvals of held write actions --------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def approvals(request):
    actions = list(selectors.pending_actions_for(request.user)[:100])
    now = _now()
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
    import json

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
