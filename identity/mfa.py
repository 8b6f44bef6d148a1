from allauth.mfa.models import Authenticator


def has_mfa(user) -> bool:
    """True when the person has an active TOTP authenticator (recovery codes alone don't count)."""
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
