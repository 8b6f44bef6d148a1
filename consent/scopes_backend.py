from oauth2_provider.scopes import BaseScopes

from consent.catalog import CATALOG


class CatalogScopes(BaseScopes):
    """django-oauth-toolkit reads the platform scope catalog; an app's own allowance is enforced
    by the OAuth validator (apps_registry) on top of this."""

    def get_all_scopes(self):
        return {name: scope.sentence for name, scope in CATALOG.items()}

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        app = getattr(application, "app", None) if application is not None else None
        if app is None:
            return list(CATALOG)
        return [s.scope for s in app.allowed_scopes.all() if s.scope in CATALOG]

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        app = getattr(application, "app", None) if application is not None else None
        if app is None:
            return []
        return [s.scope for s in app.allowed_scopes.all() if s.required and s.scope in CATALOG]
