"""Talking to providers' token and revocation endpoints, in each provider's dialect.

GitHub answers ``200`` even for errors (``error=bad_refresh_token``), Slack answers
``{"ok": false, "error": ...}`` and nests user tokens under ``authed_user``, Google speaks RFC 6749.
:func:`parse_token_response` turns all of them into one :class:`TokenSet` or one error. How each
provider revokes is its declaration's strategy (``connections.providers.revocation``). Error
messages never contain the response body (it may hold a token).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from connections import outbound
from connections.exceptions import TokenEndpointError
from connections.providers import ProviderSpec, client_credentials

logger = logging.getLogger(__name__)

INVALID_GRANT_CODES = {
    "invalid_grant",
    "bad_refresh_token",
    "bad_verification_code",
    "invalid_refresh_token",
    "invalid_code",
    "token_revoked",
    "token_expired",
    "code_already_used",
}


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_in: int | None
    scopes: tuple[str, ...] | None
    account_id: str | None = None

    def expires_at(self, now: datetime | None = None) -> datetime | None:
        if self.expires_in is None:
            return None
        return (now or timezone.now()) + timedelta(seconds=self.expires_in)

    def __repr__(self) -> str:  # never print the tokens
        return f"TokenSet(scopes={self.scopes!r}, expires_in={self.expires_in!r}, refresh={'yes' if self.refresh_token else 'no'})"


def _split_scopes(raw, delimiter: str) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise TokenEndpointError(
            "The provider's token response has a malformed scope.", kind="malformed"
        )
    return tuple(s for s in raw.replace(",", " ").split() if s) if delimiter else (raw,)


def _expires(raw) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise TokenEndpointError(
            "The provider's token response has a malformed expiry.", kind="malformed"
        ) from None
    if value <= 0:
        raise TokenEndpointError(
            "The provider's token response has a malformed expiry.", kind="malformed"
        )
    return value


def parse_token_response(spec: ProviderSpec, status: int, body: object) -> TokenSet:
    """One token response, any dialect, into a TokenSet; raise TokenEndpointError otherwise."""
    if status == 429 or status >= 500:
        raise TokenEndpointError(f"{spec.name} is unavailable (HTTP {status}).", kind="unavailable")
    if not isinstance(body, dict):
        raise TokenEndpointError(
            f"{spec.name} sent a token response that is not JSON.", kind="malformed"
        )
    error = body.get("error")
    if spec.dialect == "slack" and body.get("ok") is not True:
        error = error or "unknown_error"
    if error:
        code = str(error)[:60]
        kind = "invalid_grant" if code in INVALID_GRANT_CODES else "error"
        raise TokenEndpointError(f"{spec.name} refused the token request ({code}).", kind=kind)
    if status != 200:
        raise TokenEndpointError(
            f"{spec.name} answered HTTP {status} to the token request.", kind="error"
        )
    account_id = None
    data = body
    if spec.dialect == "slack":
        if isinstance(body.get("authed_user"), dict):
            data = body["authed_user"]
        account_id = data.get("id") if isinstance(data.get("id"), str) else None
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenEndpointError(
            f"{spec.name} sent a token response without an access token.", kind="malformed"
        )
    refresh = data.get("refresh_token")
    if refresh is not None and (not isinstance(refresh, str) or not refresh):
        raise TokenEndpointError(f"{spec.name} sent a malformed refresh token.", kind="malformed")
    return TokenSet(
        access_token=access,
        refresh_token=refresh,
        expires_in=_expires(data.get("expires_in")),
        scopes=_split_scopes(data.get("scope"), spec.scope_delimiter),
        account_id=account_id,
    )


def _send(spec: ProviderSpec, method: str, url: str, **kw) -> outbound.Response:
    """One token-endpoint or revocation request, pinned to the provider's hosts, not retried
    (a token request is not idempotent: a code or a rotated refresh token is spent once)."""
    try:
        return outbound.request(
            method,
            url,
            origins=spec.origins,
            idempotent=False,
            timeout=settings.CONNECTION_REFRESH_TIMEOUT_SECONDS,
            **kw,
        )
    except outbound.RateLimited:
        raise TokenEndpointError(
            f"{spec.name} is unavailable (HTTP 429).", kind="unavailable"
        ) from None
    except outbound.OverCapacity:
        # Nothing was sent (this process has its share of requests in flight to the provider):
        # not the provider's failure, so it is not counted against the connection.
        raise TokenEndpointError(f"{spec.name} is busy; try again shortly.", kind="busy") from None
    except outbound.OutboundError as exc:
        # The client's messages name "The service"; the person sees the provider's name.
        message = exc.message.replace("The service's", f"{spec.name}'s")
        message = message.replace("The service", spec.name)
        raise TokenEndpointError(message, kind="unavailable") from None


def _post(spec: ProviderSpec, url: str, data: dict) -> outbound.Response:
    client_id, secret = client_credentials(spec.id)
    return _send(spec, "POST", url, data={**data, "client_id": client_id, "client_secret": secret})


def exchange_code(
    spec: ProviderSpec, *, code: str, code_verifier: str | None, redirect_uri: str
) -> TokenSet:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if code_verifier:
        data["code_verifier"] = code_verifier
    response = _post(spec, spec.token_url, data)
    return parse_token_response(spec, response.status, response.json_or_none())


def refresh(spec: ProviderSpec, *, refresh_token: str) -> TokenSet:
    response = _post(
        spec, spec.token_url, {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )
    return parse_token_response(spec, response.status, response.json_or_none())


def revoke(spec: ProviderSpec, *, access_token: str | None, refresh_token: str | None) -> None:
    """Revoke at the provider, as its declaration's strategy says (``spec.revocation``). Raise
    TokenEndpointError when it did not work."""
    client_id, secret = client_credentials(spec.id)
    request = spec.revocation.request(
        spec.revoke_url, client_id=client_id, secret=secret, access_token=access_token,
        refresh_token=refresh_token,
    )  # fmt: skip
    response = _send(spec, request.method, request.url, **request.options)
    if not spec.revocation.succeeded(response.status, response.json_or_none() or {}):
        raise TokenEndpointError(f"{spec.name} refused the revocation (HTTP {response.status}).")
