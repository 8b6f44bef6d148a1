"""``manage.py audit_checkpoint``: print a signed checkpoint of the audit chain's head.

Store the line outside the database (a ticket, the log archive, another system). Later,
``audit_verify --since-checkpoint LINE`` fails if the events up to it were removed or rewritten,
which a chain alone cannot show for its newest events.
"""

from django.core.management.base import BaseCommand

from audit.chain import make_checkpoint


class Command(BaseCommand):
    help = (
        "Print a signed checkpoint (HMAC with AUDIT_CHAIN_KEY) of the audit chain's newest event."
    )

    def handle(self, *args, **options):
        self.stdout.write(make_checkpoint())
