from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.module_loading import import_string


class Command(BaseCommand):
    help = (
        "Create the demo person, the demo app and the sandbox provider's demo data (idempotent). "
        "Development only unless --allow-production: the demo account's password is public."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even with DJANGO_DEBUG off (a local try-out of the production layout).",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["allow_production"]:
            # A demo person with a published password must never appear in production by
            # accident (issue 12, item 10).
            raise CommandError(
                "seed_demo refuses to run with DJANGO_DEBUG off: the demo account's password is "
                "public. Pass --allow-production for a local try-out of the production layout."
            )
        context: dict = {}
        with transaction.atomic():
            # Each layer seeds its own part, in the order settings.DEMO_SEEDERS lists them.
            for path in settings.DEMO_SEEDERS:
                context.update(import_string(path)(stdout=self.stdout, context=context) or {})
        # make run points SANDBOX_BASE_URL at the address it serves (it follows PORT).
        self.stdout.write(self.style.SUCCESS(f"Demo ready: open {settings.SANDBOX_BASE_URL}/"))
