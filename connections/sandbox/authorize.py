"""The sandbox's authorization endpoint: the provider's own consent page for a sandbox account
(``/sandbox/oauth/<flavour>/authorize``), then a redirect with a code or an RFC 6749 error."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone

from connections.sandbox.models import (
    SandboxAccount,
    SandboxAuthorizationCode,
    SandboxConsent,
    digest,
)
from connections.sandbox.oauth import (
    CODE_LIFETIME,
    KNOWN_SCOPES,
    flavour_of_client,
    registered_redirect_uri,
    split_scopes,
)


@dataclass
class AuthRequest:
    flavour: str
    client_id: str
    redirect_uri: str
    state: str
    scopes: list[str]
    code_challenge: str
    login_hint: str
    include_granted: bool

    def as_hidden(self) -> dict[str, str]:
        return {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "state": self.state,
            "scope": " ".join(self.scopes),
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
            "response_type": "code",
            "login_hint": self.login_hint,
            "include_granted_scopes": "true" if self.include_granted else "",
        }


def _redirect_error(redirect_uri: str, state: str, error: str, description: str):
    params = {"error": error, "error_description": description}
    if state:
        params["state"] = state
    return HttpResponseRedirect(f"{redirect_uri}?{urlencode(params)}")


def _parse_auth_request(
    request: HttpRequest, flavour: str
) -> tuple[AuthRequest | None, HttpResponse | None]:
    params = request.POST if request.method == "POST" else request.GET
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    if flavour not in KNOWN_SCOPES:
        return None, _error_page(request, "This sandbox provider does not exist.", 404)
    if flavour_of_client(client_id) != flavour:
        return None, _error_page(
            request,
            "The application asking for access is not registered with this sandbox provider.",
        )
    if not redirect_uri or redirect_uri != registered_redirect_uri(flavour):
        return None, _error_page(
            request, "The redirect address does not match the one registered for this application."
        )
    state = params.get("state", "")
    if params.get("response_type") != "code":
        return None, _redirect_error(
            redirect_uri,
            state,
            "unsupported_response_type",
            "Only response_type=code is supported.",
        )
    if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
        return None, _redirect_error(
            redirect_uri,
            state,
            "invalid_request",
            "PKCE with code_challenge_method=S256 is required.",
        )
    raw_scope = (
        params.get("user_scope", "")
        if flavour == "sandbox_slack" and "user_scope" in params
        else params.get("scope", "")
    )
    scopes = list(dict.fromkeys(split_scopes(raw_scope)))
    unknown = [s for s in scopes if s not in KNOWN_SCOPES[flavour]]
    if unknown:
        return None, _redirect_error(
            redirect_uri, state, "invalid_scope", f"Unknown scope: {unknown[0]}."
        )
    return (
        AuthRequest(
            flavour=flavour,
            client_id=client_id,
            redirect_uri=redirect_uri,
            state=state,
            scopes=scopes,
            code_challenge=params["code_challenge"],
            login_hint=params.get("login_hint", ""),
            include_granted=params.get("include_granted_scopes", "") == "true",
        ),
        None,
    )


def _error_page(request, message: str, status: int = 400) -> HttpResponse:
    return render(request, "connections/sandbox/error.html", {"message": message}, status=status)


def authorize(request: HttpRequest, flavour: str) -> HttpResponse:
    auth, error = _parse_auth_request(request, flavour)
    if error:
        return error
    accounts = list(SandboxAccount.objects.filter(flavour=flavour))
    if request.method == "POST":
        return _decide(request, auth, accounts)
    hinted = (
        next((a for a in accounts if auth.login_hint in {a.uid, a.login}), None)
        if auth.login_hint
        else None
    )
    already: list[str] = []
    if hinted:
        consent = SandboxConsent.objects.filter(account=hinted, client_id=auth.client_id).first()
        already = [s for s in auth.scopes if consent and s in consent.scopes]
    added = [s for s in auth.scopes if s not in already]
    descriptions = KNOWN_SCOPES[flavour]
    return render(
        request,
        "connections/sandbox/authorize.html",
        {
            "flavour": flavour,
            "provider_name": dict(SandboxAccount._meta.get_field("flavour").choices)[flavour],
            "accounts": accounts,
            "hinted": hinted,
            "added": [(s, descriptions[s]) for s in added],
            "already": [(s, descriptions[s]) for s in already],
            "hidden": auth.as_hidden(),
        },
    )


def _decide(
    request: HttpRequest, auth: AuthRequest, accounts: list[SandboxAccount]
) -> HttpResponse:
    if request.POST.get("decision") != "approve":
        return _redirect_error(
            auth.redirect_uri, auth.state, "access_denied", "The person denied the request."
        )
    account = next((a for a in accounts if a.uid == request.POST.get("account")), None)
    if account is None:
        return _error_page(request, "Pick one of the sandbox accounts.")
    with transaction.atomic():
        consent, _ = SandboxConsent.objects.select_for_update().get_or_create(
            account=account, client_id=auth.client_id
        )
        granted = list(auth.scopes)
        if auth.include_granted:
            granted = list(dict.fromkeys([*consent.scopes, *auth.scopes]))
        consent.scopes = list(dict.fromkeys([*consent.scopes, *auth.scopes]))
        consent.save(update_fields=["scopes"])
        code = secrets.token_urlsafe(24)
        SandboxAuthorizationCode.objects.create(
            code_digest=digest(code),
            account=account,
            client_id=auth.client_id,
            redirect_uri=auth.redirect_uri,
            scopes=granted,
            code_challenge=auth.code_challenge,
            expires_at=timezone.now() + CODE_LIFETIME,
        )
    params = {"code": code}
    if auth.state:
        params["state"] = auth.state
    return HttpResponseRedirect(f"{auth.redirect_uri}?{urlencode(params)}")
