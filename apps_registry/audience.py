"""The platform's protected resources and RFC 8707 audience binding.

The platform serves two protected resources: the broker's REST API (``/api/v1``) and the MCP
endpoint (``/mcp``). Their resource identifiers (RFC 8707, RFC 9728 ``resource``) are absolute
URLs on the platform's own origin. An app names the one(s) it wants with ``resource`` on the
authorization, token and refresh requests; the token is bound to them (``AccessToken.resource``)
and each endpoint accepts only tokens bound to it:

- ``/mcp`` accepts only tokens whose audience includes the MCP endpoint (MCP authorization spec:
  a server MUST validate that the token was issued for it);
- ``/api/v1`` accepts tokens whose audience includes the API, and tokens without any audience
  (apps that predate resource indicators), never a token bound to ``/mcp`` alone.

A token asked for both is accepted by both. Any other ``resource`` value is ``invalid_target``.
"""

from __future__ import annotations

import posixpath
from urllib.parse import urlsplit

MCP = "mcp"
API = "api"
PROTECTED_RESOURCES: dict[str, str] = {MCP: "/mcp", API: "/api/v1"}
NAMES = {MCP: "Agent Access Platform (MCP)", API: "Agent Access Platform broker API"}


def origin(request) -> str:
    """``scheme://host[:port]`` of the platform as this request reached it: a Django request,
    or an oauthlib one (django-oauth-toolkit hands oauthlib the Django request's headers and
    marks https with ``X_DJANGO_OAUTH_TOOLKIT_SECURE``, as its own issuer helper reads them)."""
    if not hasattr(request, "build_absolute_uri"):
        from django.http import HttpRequest

        phony = HttpRequest()
        phony.META = dict(request.headers)
        secure = bool(request.headers.get("X_DJANGO_OAUTH_TOOLKIT_SECURE"))
        phony._get_scheme = lambda: "https" if secure else "http"
        request = phony
    return request.build_absolute_uri("/").rstrip("/")


def resource_uri(request, name: str) -> str:
    return origin(request) + PROTECTED_RESOURCES[name]


def canonical(uri: str) -> str | None:
    """Scheme and host lower-cased, default port dropped, no trailing slash; None when the
    value is not an absolute http(s) URI without userinfo, query or fragment."""
    if not isinstance(uri, str):
        return None
    parts = urlsplit(uri.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        return None
    if "#" in uri:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, {"http": 80, "https": 443}[scheme]) else f"{host}:{port}"
    path = posixpath.normpath(parts.path) if parts.path else ""
    path = "" if path in ("/", ".") else path.rstrip("/")
    return f"{scheme}://{netloc}{path}"


def resource_name(uri: str, request) -> str | None:
    """Which protected resource ``uri`` identifies on this platform, or None."""
    wanted = canonical(uri)
    if wanted is None:
        return None
    for name in PROTECTED_RESOURCES:
        if canonical(resource_uri(request, name)) == wanted:
            return name
    return None


def unknown_resources(resources, request) -> list[str]:
    return [r for r in resources or () if resource_name(r, request) is None]


def audience_allows(token_resources, name: str, request) -> bool:
    """May a token bound to ``token_resources`` be used at protected resource ``name``?"""
    if not token_resources:
        return name == API
    return any(resource_name(r, request) == name for r in token_resources)
