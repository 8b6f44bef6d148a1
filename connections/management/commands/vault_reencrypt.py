"""Re-encrypt every stored provider token under the first key of VAULT_KEYS.

Works in batches, each in its own transaction, so it can be stopped and run again: rows already
under the newest key (``token_key_id``) are skipped. Prints the counts.
"""

from allauth.mfa.models import Authenticator
from django.core.management.base import BaseCommand
from django.db import transaction

from connections import vault
from connections.models import Connection
from identity.secrets import encrypt_authenticator_data


class Command(BaseCommand):
    help = "Re-encrypt stored provider tokens under the newest vault key (resumable, in batches)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=200)
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be done.")

    def handle(self, *args, batch_size, dry_run, **options):
        if batch_size < 1:
            self.stderr.write("--batch-size must be at least 1.")
            raise SystemExit(2)
        current = vault.current_key_id()
        pending = Connection.objects.exclude(token_key_id="").exclude(token_key_id=current)
        total = pending.count()
        already = Connection.objects.filter(token_key_id=current).count()
        if dry_run:
            self.stdout.write(
                f"{total} connection(s) to re-encrypt, {already} already under key {current}."
            )
            return
        done = failed = 0
        failed_ids: list[int] = []
        while True:
            ids = list(
                pending.exclude(pk__in=failed_ids)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                break
            with transaction.atomic():
                for pk in ids:
                    try:
                        row = Connection.objects.select_for_update().get(pk=pk)
                        row.token_key_id = current
                        # Saving re-encrypts both columns with the first key.
                        with transaction.atomic():
                            row.save(
                                update_fields=["access_token", "refresh_token", "token_key_id"]
                            )
                        done += 1
                    except vault.VaultError:
                        failed += 1
                        failed_ids.append(pk)
            self.stdout.write(f"... {done} re-encrypted so far")
        self.stdout.write(
            f"Re-encrypted {done} connection(s) under key {current}; {already} were already current; "
            f"{failed} could not be decrypted with any configured key."
        )
        if failed:
            self.stderr.write(f"Undecryptable connection ids: {', '.join(map(str, failed_ids))}")
        # The MFA secrets (identity/secrets.py) are under the same keys.
        rekeyed = 0
        for row in Authenticator.objects.filter(type__in=["totp", "recovery_codes"]).iterator():
            data = encrypt_authenticator_data(row.type, row.data or {}, reencrypt=True)
            if data != row.data:
                Authenticator.objects.filter(pk=row.pk).update(data=data)
                rekeyed += 1
        self.stdout.write(f"Re-encrypted {rekeyed} MFA authenticator(s) under key {current}.")
