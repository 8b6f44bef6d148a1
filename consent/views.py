"""The authorization endpoint (``/oauth/authorize/``) with the platform's consent screen.

INTERIM (foundation): a request fully covered by the person's live grant is approved with no screen;
anything else falls back to django-oauth-toolkit's plain form. The consent issue replaces the form
with the real consent screen.
"""

from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.views import AuthorizationView

from consent.models import Grant


class AuthorizeView(AuthorizationView):
    def get(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return super().get(request, *args, **kwargs)
        try:
            scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        prompt = set(request.GET.get("prompt", "").split())
        grant = (
            Grant.objects.filter(user=request.user, app__client__client_id=credentials["client_id"])
            .select_related("app")
            .first()
        )
        if (
            grant
            and grant.is_live()
            and set(scopes) <= set(grant.scopes)
            and "consent" not in prompt
        ):
            uri, _headers, _body, _status = self.create_authorization_response(
                request=request, scopes=" ".join(scopes), credentials=credentials, allow=True
            )
            return self.redirect(uri, grant.app.client)
        return super().get(request, *args, **kwargs)
