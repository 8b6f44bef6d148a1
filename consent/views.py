"""The authorization endpoint (``/oauth/authorize/``): the platform's consent screen (what it
shows is built by ``consent.screen``; held writes are approved in ``consent.approvals``).

The authorization request is validated by django-oauth-toolkit and the platform's validator
(client, redirect URI, PKCE, scopes) before anything else happens; errors before a valid
``redirect_uri`` is known are a page, errors after it are RFC 6749 redirects. A validated request
is kept in the person's session under a random id, so the screen can send the person to connect
or upgrade a service and come back to the same request; the approval form carries only that id.
"""

from __future__ import annotations

import secrets
import time

from django.conf import settings
from django.db import transaction
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from oauth2_provider.exceptions import FatalClientError, OAuthToolkitError
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import AuthorizationView
from oauthlib.common import add_params_to_uri

from apps_registry import audience
from apps_registry.models import App
from apps_registry.oauth import canonical_scopes
from consent import rar, selectors, services
from consent.approval_plan import ChoiceError, resolve_approval
from consent.catalog import (
    CATALOG,
    RESOURCE_KINDS,
)
from consent.engine import Outcome
from consent.models import Grant
from consent.screen import app_context, screen_context, screen_decision

SESSION_KEY = "consent.requests"
REQUEST_MAX_AGE_SECONDS = 30 * 60


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
            app_context(app),
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
        decision, grant, rows, infos = screen_decision(request, app, scopes, "consent" in prompt)
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
        context = screen_context(
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
        decision, grant, rows, infos = screen_decision(request, app, scopes, True)
        if action == "approve":
            try:
                return self._approve(request, app, client, decision, rows, infos, entry, rid)
            except ChoiceError as problem:
                error = str(problem)
        elif action == "update":
            error = ""
        else:
            return HttpResponseBadRequest("Unknown action.")
        context = screen_context(
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
