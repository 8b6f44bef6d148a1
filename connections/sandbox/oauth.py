"""The sandbox's OAuth2 authorization server.

Authorization code with PKCE (S256 only, enforced), exact redirect URI matching, single-use codes,
refresh with rotation (a rotated refresh token presented again fails and revokes its family),
RFC 7009 revocation and short-lived access tokens. Token responses and errors use each flavour's
real shape: GitHub answers ``200`` with ``error=bad_refresh_token``, Slack answers
``{"ok": false, "error": ...}``, Google speaks RFC 6749.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connections.providers import sandbox_client_credentials
from connections.sandbox.models import (
    SandboxAccount,
    SandboxAuthorizationCode,
    SandboxSwitch,
    SandboxToken,
    SandboxTokenRequest,
    digest,
)

KNOWN_SCOPES: dict[str, dict[str, str]] = {
    "sandbox_github": {
        "repo": "Full control of private repositories",
        "public_repo": "Access public repositories",
        "read:user": "Read your profile data",
        "user:email": "Read your e-mail addresses",
        "read:org": "Read organisation membership",
    },
    "sandbox_slack": {
        "channels:read": "View basic information about public channels",
        "channels:history": "View messages in channels",
        "groups:read": "View basic information about private channels",
        "chat:write": "Send messages as you",
        "users:read": "View people in the workspace",
    },
    "sandbox_google": {
        "openid": "Associate you with your personal info",
        "email": "See your primary e-mail address",
        "profile": "See your personal info",
        "https://www.googleapis.com/auth/drive.readonly": "See and download all your Drive files",
        "https://www.googleapis.com/auth/drive.file": "See, edit, create and delete the Drive files this app uses",
    },
}
TOKEN_PREFIX = {
    "sandbox_github": "gho_sbx_",
    "sandbox_slack": "xoxp-sbx-",
    "sandbox_google": "ya29.sbx.",
}
REFRESH_PREFIX = {
    "sandbox_github": "ghr_sbx_",
    "sandbox_slack": "xoxe-1-sbx-",
    "sandbox_google": "1//sbx",
}
CODE_LIFETIME = timedelta(seconds=60)
REFRESH_LIFETIME = timedelta(days=180)


def flavour_of_client(client_id: str) -> str | None:
    for flavour in KNOWN_SCOPES:
        if sandbox_client_credentials(flavour)[0] == client_id:
            return flavour
    return None


def registered_redirect_uri(flavour: str) -> str:
    return settings.SANDBOX_BASE_URL.rstrip("/") + reverse(f"{flavour}_callback")


def split_scopes(raw: str) -> list[str]:
    return [s for s in raw.replace(",", " ").split() if s]


# --- token --------------------------------------------------------------------------------------


class TokenError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def _error_response(flavour: str | None, exc: TokenError) -> JsonResponse:
    if flavour == "sandbox_slack":
        slack_codes = {
            "invalid_grant": "invalid_refresh_token"
            if "refresh" in exc.description
            else "invalid_code",
            "invalid_client": "invalid_client_id",
        }
        return JsonResponse({"ok": False, "error": slack_codes.get(exc.error, exc.error)})
    if flavour == "sandbox_github":
        # GitHub answers 200 with an error in the body.
        github_codes = {"invalid_client": "incorrect_client_credentials"}
        code = github_codes.get(exc.error, exc.error)
        if exc.error == "invalid_grant":
            code = "bad_refresh_token" if "refresh" in exc.description else "bad_verification_code"
        return JsonResponse({"error": code, "error_description": exc.description})
    response = JsonResponse(
        {"error": exc.error, "error_description": exc.description}, status=exc.status
    )
    response["Cache-Control"] = "no-store"
    return response


def _client(request: HttpRequest) -> tuple[str, str]:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.startswith("Basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            raise TokenError("invalid_client", "Malformed client authentication.", 401) from None
        return client_id, secret
    return request.POST.get("client_id", ""), request.POST.get("client_secret", "")


def _authenticate_client(request: HttpRequest) -> tuple[str, str]:
    client_id, secret = _client(request)
    flavour = flavour_of_client(client_id)
    if flavour is None or not hmac.compare_digest(secret, sandbox_client_credentials(flavour)[1]):
        raise TokenError("invalid_client", "Client authentication failed.", 401)
    return client_id, flavour


def _issue(
    flavour: str,
    account: SandboxAccount,
    client_id: str,
    scopes: list[str],
    family: str,
    *,
    with_refresh: bool = True,
) -> dict:
    access = TOKEN_PREFIX[flavour] + secrets.token_urlsafe(24)
    refresh = REFRESH_PREFIX[flavour] + secrets.token_urlsafe(32) if with_refresh else None
    now = timezone.now()
    lifetime = int(settings.SANDBOX_ACCESS_TOKEN_SECONDS)
    common = {"account": account, "client_id": client_id, "scopes": scopes, "family": family}
    SandboxToken.objects.create(
        kind=SandboxToken.Kind.ACCESS,
        token_digest=digest(access),
        expires_at=now + timedelta(seconds=lifetime),
        **common,
    )
    if refresh:
        SandboxToken.objects.create(
            kind=SandboxToken.Kind.REFRESH,
            token_digest=digest(refresh),
            expires_at=now + REFRESH_LIFETIME,
            **common,
        )
    return {
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": lifetime,
        "scopes": scopes,
    }


def _shape(flavour: str, issued: dict, account: SandboxAccount, *, grant_type: str) -> dict:
    scopes = issued["scopes"]
    if flavour == "sandbox_github":
        return _without_none(
            {
                "access_token": issued["access_token"],
                "expires_in": issued["expires_in"],
                "refresh_token": issued["refresh_token"],
                "refresh_token_expires_in": int(REFRESH_LIFETIME.total_seconds()),
                "scope": ",".join(scopes),
                "token_type": "bearer",
            }
        )
    if flavour == "sandbox_slack":
        user = _without_none(
            {
                "id": account.uid,
                "scope": ",".join(scopes),
                "access_token": issued["access_token"],
                "token_type": "user",
                "refresh_token": issued["refresh_token"],
                "expires_in": issued["expires_in"],
            }
        )
        team = {"id": "T0SANDBOX", "name": "Sandbox Workspace"}
        if grant_type == "refresh_token":
            return {"ok": True, "app_id": "A0SANDBOX", **user, "team": team}
        return {"ok": True, "app_id": "A0SANDBOX", "authed_user": user, "team": team}
    return _without_none(
        {
            "access_token": issued["access_token"],
            "expires_in": issued["expires_in"],
            "refresh_token": issued["refresh_token"],
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }
    )


def _without_none(data: dict) -> dict:
    return {k: v for k, v in data.items() if v is not None}


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def _exchange_code(
    request: HttpRequest, client_id: str, flavour: str
) -> tuple[dict, SandboxAccount]:
    code = request.POST.get("code", "")
    verifier = request.POST.get("code_verifier", "")
    if not code:
        raise TokenError("invalid_request", "The code parameter is missing.")
    row = (
        SandboxAuthorizationCode.objects.select_for_update()
        .select_related("account")
        .filter(code_digest=digest(code))
        .first()
    )
    if row is None or row.client_id != client_id:
        raise TokenError("invalid_grant", "The code is invalid.")
    if row.used_at is not None:
        # A replayed code: revoke everything issued from it (RFC 6749 section 4.1.2).
        SandboxToken.objects.filter(family=f"code-{row.pk}").update(revoked_at=timezone.now())
        raise TokenError("invalid_grant", "The code has already been used.")
    row.used_at = timezone.now()
    row.save(update_fields=["used_at"])
    if row.expires_at <= timezone.now():
        raise TokenError("invalid_grant", "The code has expired.")
    if request.POST.get("redirect_uri", "") != row.redirect_uri:
        raise TokenError(
            "invalid_grant", "The redirect_uri does not match the authorization request."
        )
    if not verifier or not hmac.compare_digest(_s256(verifier), row.code_challenge):
        raise TokenError("invalid_grant", "The code_verifier does not match the code_challenge.")
    return _issue(flavour, row.account, client_id, row.scopes, f"code-{row.pk}"), row.account


def _exchange_refresh(
    request: HttpRequest, client_id: str, flavour: str
) -> tuple[dict, SandboxAccount]:
    raw = request.POST.get("refresh_token", "")
    if not raw:
        raise TokenError("invalid_request", "The refresh_token parameter is missing.")
    row = (
        SandboxToken.objects.select_for_update()
        .select_related("account")
        .filter(token_digest=digest(raw), kind=SandboxToken.Kind.REFRESH)
        .first()
    )
    if row is None or row.client_id != client_id:
        raise TokenError("invalid_grant", "The refresh token is invalid.")
    now = timezone.now()
    if row.rotated_at is not None:
        # Reuse of a rotated refresh token: someone kept a copy. Revoke the whole family.
        SandboxToken.objects.filter(family=row.family).update(revoked_at=now)
        raise TokenError("invalid_grant", "The refresh token was already used (rotated).")
    if row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
        raise TokenError("invalid_grant", "The refresh token is revoked or expired.")
    if SandboxSwitch.get("rotate_refresh_tokens") == "off":
        # Like Google: the refresh token stays valid and the response carries none.
        return _issue(
            flavour, row.account, client_id, row.scopes, row.family, with_refresh=False
        ), row.account
    row.rotated_at = now
    row.save(update_fields=["rotated_at"])
    return _issue(flavour, row.account, client_id, row.scopes, row.family), row.account


@csrf_exempt
@require_POST
def token(request: HttpRequest) -> HttpResponse:
    grant_type = request.POST.get("grant_type", "")
    flavour = (
        flavour_of_client(_client(request)[0])
        if "HTTP_AUTHORIZATION" in request.META or "client_id" in request.POST
        else None
    )
    log = SandboxTokenRequest(
        endpoint="token",
        grant_type=grant_type[:40],
        client_id=request.POST.get("client_id", "")[:100],
    )
    forced = SandboxSwitch.get("token_endpoint_status")
    if forced:
        log.outcome = f"forced_{forced}"
        log.save()
        return JsonResponse({"error": "temporarily_unavailable"}, status=int(forced))
    try:
        with transaction.atomic():
            client_id, flavour = _authenticate_client(request)
            if grant_type == "authorization_code":
                issued, account = _exchange_code(request, client_id, flavour)
            elif grant_type == "refresh_token":
                issued, account = _exchange_refresh(request, client_id, flavour)
            else:
                raise TokenError(
                    "unsupported_grant_type",
                    "Only authorization_code and refresh_token are supported.",
                )
    except TokenError as exc:
        log.outcome = exc.error
        log.save()
        return _error_response(flavour, exc)
    log.outcome = "ok"
    log.client_id = client_id
    log.save()
    response = JsonResponse(_shape(flavour, issued, account, grant_type=grant_type))
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_POST
def revoke(request: HttpRequest) -> HttpResponse:
    """RFC 7009: 200 for any token, including unknown ones; revokes the token's whole family."""
    log = SandboxTokenRequest(endpoint="revoke", client_id=request.POST.get("client_id", "")[:100])
    try:
        client_id, _ = _authenticate_client(request)
    except TokenError as exc:
        log.outcome = exc.error
        log.save()
        return JsonResponse({"error": exc.error, "error_description": exc.description}, status=401)
    raw = request.POST.get("token", "")
    if not raw:
        log.outcome = "invalid_request"
        log.save()
        return JsonResponse(
            {"error": "invalid_request", "error_description": "The token parameter is missing."},
            status=400,
        )
    row = SandboxToken.objects.filter(token_digest=digest(raw)).first()
    if row is not None and row.client_id != client_id:
        log.outcome = "unauthorized_client"
        log.save()
        return JsonResponse(
            {
                "error": "unauthorized_client",
                "error_description": "The token was not issued to this client.",
            },
            status=400,
        )
    if row is not None:
        revoke_family(row.family)
    log.outcome = "ok" if row else "unknown_token"
    log.save()
    return HttpResponse(status=200)


def revoke_family(family: str) -> None:
    SandboxToken.objects.filter(family=family, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def authenticate_bearer(request: HttpRequest, flavour: str) -> SandboxToken | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() not in {"bearer", "token"} or not value:
        return None
    row = (
        SandboxToken.objects.select_related("account")
        .filter(token_digest=digest(value.strip()), kind=SandboxToken.Kind.ACCESS)
        .first()
    )
    if row is None or not row.usable or flavour_of_client(row.client_id) != flavour:
        return None
    return row
