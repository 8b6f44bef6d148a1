"""What a client may ask for: platform scopes (the catalog and the app's allowance, with
``offline_access`` read as background access) and RFC 8707 resources (only the platform's own).

:class:`ScopeRules` is one part of ``apps_registry.oauth.PlatformOAuth2Validator``.
"""

from __future__ import annotations

from oauthlib.oauth2.rfc6749 import errors

from apps_registry import audience

BACKGROUND_SCOPE = "agents.jobs.background"
# OpenID Connect's (and MCP clients') way of asking for a refresh token is the platform's
# background access: the same permission, shown to the person as such on the consent screen.
OFFLINE_ACCESS = "offline_access"
SCOPE_ALIASES = {OFFLINE_ACCESS: BACKGROUND_SCOPE}


def catalog_scope_names() -> set[str]:
    from oauth2_provider.scopes import get_scopes_backend

    return set(get_scopes_backend().get_all_scopes())


def canonical_scopes(scopes) -> list[str]:
    """Scopes with aliases (``offline_access``) replaced by the catalog scope they stand for."""
    return list(dict.fromkeys(SCOPE_ALIASES.get(s, s) for s in scopes or ()))


class ScopeRules:
    """The scope and resource rules of the validator (a mixin before ``OAuth2Validator``)."""

    def allowed_scopes(self, client) -> set[str]:
        """Catalog scopes the app behind ``client`` may request (its AppScope rows)."""
        app = getattr(client, "app", None)
        if app is None:
            return set()
        allowed = {s.scope for s in app.allowed_scopes.all()} & catalog_scope_names()
        if not app.may_request_background:
            allowed.discard(BACKGROUND_SCOPE)
        return allowed

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        # ``offline_access`` is read as background access from here on (the request's scopes
        # are what oauthlib hands back to the authorization view). It only asks for a refresh
        # token, which the server may decline (MCP clients add it whenever metadata lists it):
        # for an app that may not act in the background it is dropped, not an error.
        allowed = self.allowed_scopes(client)
        scopes = list(scopes or ())
        if OFFLINE_ACCESS in scopes and BACKGROUND_SCOPE not in allowed:
            scopes = [s for s in scopes if s != OFFLINE_ACCESS]
        scopes = canonical_scopes(scopes)
        if getattr(request, "scopes", None) is not None:
            request.scopes = scopes
        return bool(scopes) and set(scopes) <= allowed

    # ---- RFC 8707: only the platform's own protected resources ---------------------------------
    def _check_and_set_request_resource(self, request):
        super()._check_and_set_request_resource(request)
        code_resource = getattr(request, "_platform_code_resource", None)
        if request.grant_type == "authorization_code" and code_resource:
            # The code was claimed (deleted) atomically before django-oauth-toolkit looks it
            # up, so its narrowing rule is applied here: a token request may narrow the
            # code's audience, never widen it.
            widened = [r for r in request.resource if r not in code_resource]
            if widened:
                raise errors.CustomOAuth2Error(
                    error="invalid_target",
                    description=f"The resource {widened[0]!r} was not part of the authorization.",
                    request=request,
                )
            request.resource = request.resource or code_resource
        unknown = audience.unknown_resources(request.resource, request)
        if unknown:
            raise errors.CustomOAuth2Error(
                error="invalid_target",
                description=f"Unknown resource {unknown[0]!r}.",
                request=request,
            )

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        app = getattr(request.client, "app", None)
        if app is None:
            return []
        allowed = self.allowed_scopes(request.client)
        return sorted(
            s.scope for s in app.allowed_scopes.all() if s.required and s.scope in allowed
        )
