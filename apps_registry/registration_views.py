"""RFC 7591 dynamic client registration, hardened (``/oauth/register/``).

django-oauth-toolkit's endpoint, with the platform's rules in front of it:

- open (no account needed: that is what MCP clients expect), but rate-limited per IP address;
- redirect URIs must be http on a loopback IP literal (RFC 8252 7.3, native and command-line
  clients) unless the operator allows others (``OAUTH_DCR_ALLOW_NON_LOOPBACK``): a web client
  that can host a document should use a Client ID Metadata Document instead;
- authorization code only (plus refresh): a self-registered client gets no client credentials;
- each registered client becomes an unverified App "registered by the client itself"
  (:mod:`apps_registry.self_registration`).

RFC 7592 management is read-only here (GET with the registration access token): changing redirect
URIs after registration would sidestep the checks above, and deleting would orphan the person's
grant and audit trail.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.views import dynamic_client_registration as dot_dcr

from apps_registry.models import OAuthClient, is_loopback_host
from apps_registry.oauth_views import client_ip, limiter
from apps_registry.self_registration import self_registered_app_ensure
from apps_registry.services import RegistryError, validate_redirect_uri

ALLOWED_GRANT_TYPES = {"authorization_code", "refresh_token"}


def _error(error: str, description: str, status: int = 400, headers=None) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def check_registration(data: dict) -> JsonResponse | None:
    """The platform's rules on a registration request; an RFC 7591 3.2.2 error or None."""
    uris = data.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        return _error("invalid_redirect_uri", "redirect_uris must be a non-empty array of URIs.")
    if len(uris) > 10:
        return _error("invalid_redirect_uri", "Register at most ten redirect URIs.")
    for uri in uris:
        try:
            validate_redirect_uri(uri)
        except RegistryError as problem:
            return _error("invalid_redirect_uri", str(problem))
        loopback = urlsplit(uri).scheme == "http" and is_loopback_host(urlsplit(uri).hostname)
        if not loopback and not settings.OAUTH_DCR_ALLOW_NON_LOOPBACK:
            return _error(
                "invalid_redirect_uri",
                "Dynamic registration accepts only loopback redirect URIs "
                "(http://127.0.0.1:PORT/... or http://[::1]:PORT/...). Web clients: use a "
                "Client ID Metadata Document (an https URL as client_id) instead.",
            )
    grant_types = data.get("grant_types", ["authorization_code"])
    if not isinstance(grant_types, list) or not set(grant_types) <= ALLOWED_GRANT_TYPES:
        return _error(
            "invalid_client_metadata",
            "Self-registered clients may use authorization_code (and refresh_token) only.",
        )
    response_types = data.get("response_types", ["code"])
    if response_types != ["code"]:
        return _error("invalid_client_metadata", 'response_types must be ["code"].')
    name = data.get("client_name", "")
    if not isinstance(name, str) or len(name) > 100:
        return _error("invalid_client_metadata", "client_name must be at most 100 characters.")
    return None


@method_decorator(csrf_exempt, name="dispatch")
class RegistrationView(dot_dcr.DynamicClientRegistrationView):
    def post(self, request, *args, **kwargs):
        verdict = limiter.hit(
            f"dcr:ip:{client_ip(request)}",
            limit=settings.OAUTH_DCR_RATE_LIMIT_PER_HOUR,
            window=3600,
        )
        if not verdict.allowed:
            return _error(
                "temporarily_unavailable",
                f"Too many registrations. Retry after {verdict.retry_after} seconds.",
                status=429,
                headers={"Retry-After": str(verdict.retry_after)},
            )
        try:
            data = json.loads(request.body or b"")
        except ValueError:
            data = None
        if isinstance(data, dict):
            refused = check_registration(data)
            if refused is not None:
                return refused
        # Anything else malformed gets django-oauth-toolkit's own RFC 7591 error.
        with transaction.atomic():
            response = super().post(request, *args, **kwargs)
            if response.status_code == 201:
                client_id = json.loads(response.content)["client_id"]
                client = OAuthClient.objects.get(client_id=client_id)
                self_registered_app_ensure(client=client, request=request)
        response["Cache-Control"] = "no-store"
        return response


@method_decorator(csrf_exempt, name="dispatch")
class RegistrationManagementView(dot_dcr.DynamicClientRegistrationManagementView):
    http_method_names = ["get"]
