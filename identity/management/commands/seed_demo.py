from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.module_loading import import_string


class Command(BaseCommand):
    help = "Create the demo person, the demo app and the sandbox provider's demo data (idempotent)."

    def handle(self, *args, **options):
        context: dict = {}
        with transaction.atomic():
            # Each layer seeds its own part, in the order settings.DEMO_SEEDERS lists them.
            for path in settings.DEMO_SEEDERS:
                context.update(import_string(path)(stdout=self.stdout, context=context) or {})
        self.stdout.write(self.style.SUCCESS("Demo ready: open http://127.0.0.1:8000/"))
