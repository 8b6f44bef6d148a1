"""The connect flow's allauth views: the login URL (sends people to the connect page) and the callback.

The callback is allauth's, made strict: a missing or foreign ``state``, a provider error, a token
response that cannot be used, a missing refresh token where one is required, or an upgrade approved
with a different account each end on a clear page and change nothing. On success allauth's
connect flow runs and its signals hand the tokens to ``connections.services`` (the vault).
"""

from __future__ import annotations

from allauth.socialaccount.helpers import complete_social_login
from allauth.socialaccount.internal import statekit
from allauth.socialaccount.models import SocialAccount, SocialToken
from allauth.socialaccount.providers.base import ProviderException
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView
from django.shortcuts import redirect

from connections.exceptions import TokenEndpointError
from connections.oauth.adapters import ADAPTERS
from connections.services import connect_failed_page
from connections.tokens import exchange_code


class PlatformCallbackView(OAuth2CallbackView):
    def dispatch(self, request, *args, **kwargs):
        provider = self.adapter.get_provider()
        spec = self.adapter.spec
        state_id = request.GET.get("state", "")
        state = statekit.unstash_state(request, state_id) if state_id else None
        if state is None or state.get("process") != "connect":
            return connect_failed_page(
                request,
                spec,
                "This answer from the provider does not belong to a connection you started in this "
                "browser (missing or mismatched state). Nothing was changed; please start again.",
            )
        if not request.user.is_authenticated:
            return connect_failed_page(request, spec, "Sign in before connecting a service.")
        intent = state.get("data") or {}
        if "error" in request.GET:
            if request.GET["error"] == "access_denied":
                message = f"You declined the request at {spec.name}. Nothing was changed."
            else:
                message = f"{spec.name} reported an error ({request.GET['error'][:60]}). Nothing was changed."
            return connect_failed_page(request, spec, message, intent=intent)
        code = request.GET.get("code")
        if not code:
            return connect_failed_page(
                request,
                spec,
                f"{spec.name} sent no authorization code. Nothing was changed.",
                intent=intent,
            )
        try:
            tokens = exchange_code(
                spec,
                code=code,
                code_verifier=state.get("pkce_code_verifier"),
                redirect_uri=self.adapter.get_callback_url(request, provider.app),
            )
        except TokenEndpointError as exc:
            return connect_failed_page(
                request, spec, f"{exc.message} Nothing was changed.", intent=intent
            )
        if spec.requires_refresh_token and not tokens.refresh_token:
            return connect_failed_page(
                request,
                spec,
                f"{spec.name} did not grant offline access (no refresh token), so the platform could "
                "not keep the connection working. Nothing was changed; please try again.",
                intent=intent,
            )
        token = SocialToken(token=tokens.access_token, token_secret=tokens.refresh_token or "")
        token.expires_at = tokens.expires_at()
        try:
            login = self.adapter.complete_login(request, provider.app, token, response=tokens)
        except ProviderException as exc:
            return connect_failed_page(request, spec, f"{exc} Nothing was changed.", intent=intent)
        if tokens.account_id and tokens.account_id != login.account.uid:
            return connect_failed_page(
                request,
                spec,
                f"{spec.name} answered for two different accounts. Nothing was changed.",
                intent=intent,
            )
        if intent.get("intent") == "upgrade":
            from connections.models import Connection

            connection = Connection.objects.filter(
                pk=intent.get("connection_id"), user=request.user
            ).first()
            if connection is None or connection.provider_account_id != login.account.uid:
                return connect_failed_page(
                    request,
                    spec,
                    f"You approved the request with a different {spec.name} account than the one "
                    "being upgraded. Nothing was changed.",
                    intent=intent,
                )
        if (
            SocialAccount.objects.filter(provider=login.account.provider, uid=login.account.uid)
            .exclude(user=request.user)
            .exists()
        ):
            return connect_failed_page(
                request,
                spec,
                f"This {spec.name} account is already connected by another person on the "
                "platform. Nothing was changed.",
                intent=intent,
            )
        # Carried to the signal receivers (connections.receivers), which store into the vault.
        login.platform_tokens = tokens
        login.platform_intent = intent
        token.token = ""  # allauth keeps no copy (SOCIALACCOUNT_STORE_TOKENS is False anyway)
        token.token_secret = ""
        login.token = token
        login.state = state
        return complete_social_login(request, login)


def login(request, provider_id: str):
    """allauth's login URL: connecting starts on the platform's own page (it asks first)."""
    return redirect("connections:connect", provider=provider_id)


def callback_view(provider_id: str):
    return PlatformCallbackView.adapter_view(ADAPTERS[provider_id])
