"""Token, revocation (RFC 7009) and introspection (RFC 7662) endpoints.

Thin wrappers around django-oauth-toolkit that add what it leaves to the deployment: rate limits,
strict parameter parsing (a repeated parameter is an error, RFC 6749 3.1/3.2), RFC 6749 5.2 error
shapes (401 and ``WWW-Authenticate`` when Basic authentication failed, ``no-store`` everywhere),
and an introspection endpoint that answers a client about its own tokens only.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider import views as oauth2_views
from oauth2_provider.models import (
    get_access_token_model,
    get_refresh_token_model,
    refresh_token_expire_timedelta,
)
from oauth2_provider.signals import app_authorized
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.common import Request as OauthlibRequest
from oauthlib.oauth2.rfc6749 import errors

from apps_registry.oauth import (
    SUPPORTED_GRANT_TYPES,
    ClientRateLimited,
    checksum,
    parse_client_credentials,
)
from apps_registry.ratelimit import limiter
from audit.network import client_address


def failed_auth_key(ip: str, client_id: str) -> str:
    return f"failed-auth:{checksum(ip + '|' + client_id)}"


NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# RFC 8707 lets ``resource`` repeat; nothing else may.
REPEATABLE = {"resource"}


def oauth_error(error: str, description: str, status: int = 400, headers=None) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    for key, value in {**NO_STORE, **(headers or {})}.items():
        response[key] = value
    return response


def client_ip(request) -> str:
    # Behind trusted proxies, the client named in X-Forwarded-For (audit/network.py).
    return client_address(request) or "unknown"


def claimed_client(request) -> tuple[str | None, str | None]:
    """``(client_id, method)`` the request claims (Basic header or body), before authentication;
    method is ``"basic"``, ``"post"`` or None (no secret: a public client, or no client)."""
    fake = OauthlibRequest(
        request.build_absolute_uri(),
        http_method="POST",
        body=request.POST.dict(),
        headers={"Authorization": request.META.get("HTTP_AUTHORIZATION", "")},
    )
    try:
        client_id, _secret, method = parse_client_credentials(fake)
    except errors.OAuth2Error:
        return None, None
    return client_id, method


def too_many(retry_after: int) -> JsonResponse:
    return oauth_error(
        "temporarily_unavailable",
        f"Too many requests. Retry after {retry_after} seconds.",
        status=429,
        headers={"Retry-After": str(retry_after)},
    )


class OAuthEndpointMixin:
    """Rate limits, POST only, no repeated parameters, RFC 6749 error shapes."""

    endpoint_name = "token"

    def dispatch(self, request, *args, **kwargs):
        if request.method != "POST":
            return oauth_error(
                "invalid_request",
                f"The {self.endpoint_name} endpoint accepts POST requests only.",
                status=405,
                headers={"Allow": "POST"},
            )
        refused = self.check_rate_limits(request)
        if refused is not None:
            return refused
        repeated = sorted(k for k, v in request.POST.lists() if len(v) > 1 and k not in REPEATABLE)
        if repeated:
            return oauth_error(
                "invalid_request", f"Parameter {repeated[0]!r} must not be repeated."
            )
        response = self.shape_error(request, super().dispatch(request, *args, **kwargs))
        self.count_failed_authentication(request, response)
        return response

    def check_rate_limits(self, request):
        """Before the request is processed: the per-address limit, the failed-authentication
        budget of this (address, client), and, for a request without a secret (a public client),
        that client's budget at this address. An authenticated client's own budget is counted
        by the validator once its secret checked out (:func:`count_authenticated_client`), so
        requests with a wrong secret never spend it."""
        window = settings.OAUTH_RATE_LIMIT_WINDOW_SECONDS
        ip = client_ip(request)
        client_id, method = claimed_client(request)
        request._oauth_claimed_client = client_id
        checks = (
            ((failed_auth_key(ip, client_id), settings.OAUTH_RATE_LIMIT_FAILED_AUTH),)
            if client_id
            else ()
        )
        # The address counted and the failed-authentication budget read in one round trip.
        for verdict in limiter.hit_all(
            ((f"{self.endpoint_name}:ip:{ip}", settings.OAUTH_RATE_LIMIT_PER_IP),),
            window=window,
            checks=checks,
        ):
            if not verdict.allowed:
                return too_many(verdict.retry_after)
        if not client_id:
            return None
        if method is None:
            # Nothing authenticates a public client: count it per address, so that requests
            # naming it from elsewhere cannot use up the budget of the real one.
            verdict = limiter.hit(
                f"{self.endpoint_name}:public:{checksum(ip + '|' + client_id)}",
                limit=settings.OAUTH_RATE_LIMIT_PER_CLIENT,
                window=window,
            )
            if not verdict.allowed:
                return too_many(verdict.retry_after)
        return None

    def count_failed_authentication(self, request, response) -> None:
        client_id = getattr(request, "_oauth_claimed_client", None)
        if client_id and response.status_code == 401:
            limiter.hit(
                failed_auth_key(client_ip(request), client_id),
                limit=settings.OAUTH_RATE_LIMIT_FAILED_AUTH,
                window=settings.OAUTH_RATE_LIMIT_WINDOW_SECONDS,
            )

    def shape_error(self, request, response):
        for key, value in NO_STORE.items():
            response[key] = value
        if response.status_code < 400:
            return response
        try:
            body = json.loads(response.content or b"{}")
        except ValueError:
            body = {}
        if body:
            # oauthlib leaves some error responses without a Content-Type (Django then says HTML).
            response["Content-Type"] = "application/json"
        if body.get("error") == "invalid_client":
            # RFC 6749 5.2: 401, and the challenge of the scheme the client tried (Basic).
            response.status_code = 401
            response["WWW-Authenticate"] = 'Basic realm="oauth"'
        return response


@method_decorator(csrf_exempt, name="dispatch")
class TokenView(OAuthEndpointMixin, oauth2_views.TokenView):
    endpoint_name = "token"

    def post(self, request, *args, **kwargs):
        grant_type = request.POST.get("grant_type")
        if not grant_type:
            return oauth_error("invalid_request", "Missing grant_type parameter.")
        if grant_type not in SUPPORTED_GRANT_TYPES:
            return oauth_error(
                "unsupported_grant_type",
                "Supported grant types: " + ", ".join(SUPPORTED_GRANT_TYPES) + ".",
            )
        return self.authorization_flow_token_response(request)

    @method_decorator(sensitive_post_parameters("client_secret", "code_verifier", "refresh_token"))
    def authorization_flow_token_response(self, request, *args, **kwargs):
        # DOT's version looks the new token up again to send ``app_authorized`` and fails (500)
        # when a concurrent replay of the same code has already revoked it; look it up gently.
        _url, headers, body, status = self.create_token_response(request)
        # Nothing in the platform listens to ``app_authorized``: without a receiver, the lookup
        # would be one query per issued token for nothing (docs/performance.md).
        if status == 200 and app_authorized.has_listeners(self.__class__):
            access_token = json.loads(body).get("access_token")
            token = (
                get_access_token_model()
                .objects.filter(token_checksum=checksum(access_token))
                .first()
                if access_token
                else None
            )
            if token is not None:
                app_authorized.send(sender=self, request=request, token=token)
        response = HttpResponse(content=body, status=status)
        for key, value in headers.items():
            response[key] = value
        return response


@method_decorator(csrf_exempt, name="dispatch")
class RevokeTokenView(OAuthEndpointMixin, oauth2_views.RevokeTokenView):
    endpoint_name = "revocation"


@method_decorator(csrf_exempt, name="dispatch")
class IntrospectTokenView(OAuthEndpointMixin, OAuthLibMixin, View):
    """RFC 7662, for the calling client's own tokens: any other token is ``active: false``."""

    endpoint_name = "introspection"

    def post(self, request, *args, **kwargs):
        if request.GET:
            return oauth_error("invalid_request", "URL query parameters are not allowed.")
        validator = self.get_server().request_validator
        oauth_request = OauthlibRequest(
            request.build_absolute_uri(),
            http_method="POST",
            body=request.POST.dict(),
            headers={**request.META, "Authorization": request.META.get("HTTP_AUTHORIZATION", "")},
        )
        try:
            if validator.client_authentication_required(oauth_request):
                authenticated = validator.authenticate_client(oauth_request)
            else:
                authenticated = validator.authenticate_client_id(
                    oauth_request.client_id, oauth_request
                )
        except ClientRateLimited as error:
            return too_many(error.retry_after)
        except errors.OAuth2Error as error:
            return oauth_error(error.error, error.description or "", status=401)
        if not authenticated:
            return oauth_error("invalid_client", "Client authentication failed.", status=401)
        token = request.POST.get("token")
        if not token:
            return oauth_error("invalid_request", "Missing token parameter.")
        client = oauth_request.client
        data = introspect(token, client, request.POST.get("token_type_hint"), validator=validator)
        return JsonResponse(data)


def introspect(token: str, client, token_type_hint: str | None = None, *, validator=None) -> dict:
    """What the client may know about one of its own tokens (RFC 7662 2.2)."""
    inactive = {"active": False}
    if not client.is_usable(None):
        return inactive
    digest = checksum(token)
    AccessToken = get_access_token_model()
    RefreshToken = get_refresh_token_model()
    order = (
        ["refresh_token", "access_token"]
        if token_type_hint == "refresh_token"
        else [
            "access_token",
            "refresh_token",
        ]
    )
    for kind in order:
        if kind == "access_token":
            access = (
                AccessToken.objects.select_related("user")
                .filter(token_checksum=digest, application=client)
                .first()
            )
            if access is None:
                continue
            if access.is_expired() or (access.user_id and not access.user.is_active):
                return inactive
            data = {
                "active": True,
                "scope": access.scope,
                "client_id": client.client_id,
                "token_type": "Bearer",
                "exp": int(access.expires.timestamp()),
                "iat": int(access.created.timestamp()),
            }
            if access.user_id:
                data["sub"] = str(access.user_id)
            if access.resource:
                data["aud"] = access.resource
            if validator is not None:
                data.update(validator.introspection_extra(access))
            return data
        refresh = (
            RefreshToken.objects.select_related("access_token")
            .filter(token_checksum=digest, application=client, revoked__isnull=True)
            .first()
        )
        if refresh is None or refresh.access_token is None or not refresh.user.is_active:
            continue
        lifetime = refresh_token_expire_timedelta()
        if lifetime and refresh.access_token.expires + lifetime <= timezone.now():
            return inactive
        return {
            "active": True,
            "scope": refresh.access_token.scope,
            "client_id": client.client_id,
            "token_type": "refresh_token",
            "iat": int(refresh.created.timestamp()),
            "sub": str(refresh.user_id),
        }
    return inactive
