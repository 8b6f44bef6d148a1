"""allauth's connect signals hand the provider tokens to the vault (connections.services)."""

from allauth.socialaccount.signals import (
    social_account_added,
    social_account_removed,
    social_account_updated,
)
from django.dispatch import receiver


def _store(request, sociallogin):
    if not hasattr(sociallogin, "platform_tokens"):
        return  # not our connect callback (nothing to store)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or sociallogin.account.user_id != user.pk:
        return  # the provider account belongs to someone else: allauth refuses the connect
    from connections.services import connection_store_from_login

    connection_store_from_login(user=user, sociallogin=sociallogin, request=request)


@receiver(social_account_added, dispatch_uid="connections.store_on_added")
def on_added(sender, request, sociallogin, **kwargs):
    _store(request, sociallogin)


@receiver(social_account_updated, dispatch_uid="connections.store_on_updated")
def on_updated(sender, request, sociallogin, **kwargs):
    _store(request, sociallogin)


@receiver(social_account_removed, dispatch_uid="connections.disconnect_on_removed")
def on_removed(sender, request, socialaccount, **kwargs):
    """Someone removed the account through allauth's own page: disconnect it properly too."""
    from connections.models import Connection
    from connections.services import connection_disconnect

    live = Connection.objects.filter(
        user_id=socialaccount.user_id,
        provider=socialaccount.provider,
        provider_account_id=socialaccount.uid,
    ).exclude(status=Connection.Status.REVOKED)
    for connection in live:
        connection_disconnect(
            connection=connection, actor=getattr(request, "user", None), request=request
        )
