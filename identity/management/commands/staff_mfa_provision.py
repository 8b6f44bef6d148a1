"""``manage.py staff_mfa_provision EMAIL``: give a staff account its TOTP second factor.

Staff never enrol MFA themselves (a stolen password alone must not be enough to set one up,
identity/middleware.py). An operator runs this command and hands the printed key or otpauth URI to
the person through another channel. The key is shown this once and stored encrypted
(identity/secrets.py). An existing authenticator is replaced only with ``--replace``.
"""

from allauth.mfa import signals
from allauth.mfa.adapter import get_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from identity.models import User


class Command(BaseCommand):
    help = "Provision TOTP for a staff account; print its key once, for out-of-band hand-over."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument(
            "--replace", action="store_true", help="Replace an existing TOTP authenticator."
        )

    def handle(self, *args, email, replace, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No account with the e-mail {email!r}.")
        if not user.is_staff:
            raise CommandError(
                f"{user.email} is not staff; people turn on two-factor themselves on their profile."
            )
        existing = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
        if existing is not None and not replace:
            raise CommandError(f"{user.email} already has TOTP; pass --replace to issue a new key.")
        secret = generate_totp_secret()
        with transaction.atomic():
            if existing is not None:
                existing.delete()
                signals.authenticator_removed.send(
                    sender=Authenticator, request=None, user=user, authenticator=existing
                )
            authenticator = TOTP.activate(user, secret).instance
        signals.authenticator_added.send(
            sender=Authenticator, request=None, user=user, authenticator=authenticator
        )
        self.stdout.write(
            f"TOTP provisioned for {user.email}. Hand this to them out of band, then clear it:\n"
            f"  key: {secret}\n  uri: {get_adapter().build_totp_url(user, secret)}"
        )
