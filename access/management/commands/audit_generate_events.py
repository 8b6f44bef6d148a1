"""``manage.py audit_generate_events --count N``: append N realistic, correctly chained events.

For benchmarks and demos only (bench/admin_audit_list.py uses it for a million events). Events
are spread over the last ``--days`` days, across ``--people`` people and ``--apps`` apps that the
command creates once (e-mail addresses under ``@bench.invalid``), and chain onto the existing log
exactly as record_event would, so ``audit_verify`` passes afterwards.
"""

import datetime as dt
import random

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from apps_registry.models import App, OAuthClient, Publisher
from audit.actions import Action, ActorType, Outcome
from audit.models import GENESIS_HASH, AuditEvent
from audit.services import _lock_chain
from identity.models import User

BATCH = 5000
READS = [
    ("github", "services.github.repositories.read", "{org}/{name}"),
    ("slack", "services.slack.channels.read", "C0{n:07d}"),
    ("google", "services.google.drive.files.read", "folder-{n}"),
]
WRITES = [
    ("github", "services.github.repositories.write", "{org}/{name}"),
    ("slack", "services.slack.messages.write", "C0{n:07d}"),
]
OTHER_ACTIONS = [
    Action.SIGNED_IN,
    Action.TOKEN_ISSUED,
    Action.CONSENT_GRANTED,
    Action.CONNECTION_REFRESHED,
    Action.GRANT_CHANGED,
    Action.PENDING_ACTION_CREATED,
]


def bench_people_and_apps(people: int, apps: int):
    users = []
    for n in range(people):
        user, _ = User.objects.get_or_create(email=f"person{n}@bench.invalid")
        users.append(user)
    owner = users[0]
    publisher, _ = Publisher.objects.get_or_create(name="Bench Publisher", owner=owner)
    app_list = []
    for n in range(apps):
        app = App.objects.filter(name=f"Bench App {n}", publisher=publisher).first()
        if app is None:
            client = OAuthClient(
                name=f"Bench App {n}",
                client_type="confidential",
                authorization_grant_type="authorization-code",
                redirect_uris="https://bench.invalid/callback",
                user=owner,
                hash_client_secret=False,  # a million PBKDF2 rounds per app is not the point
            )
            client.save()
            app = App.objects.create(client=client, publisher=publisher, name=f"Bench App {n}")
        app_list.append(app)
    return users, app_list


def make_event(rng: random.Random, when: dt.datetime, users, apps) -> AuditEvent:
    user = rng.choice(users)
    app = rng.choice(apps)
    roll = rng.random()
    service = scope = resource = ""
    background = None
    outcome = Outcome.SUCCESS
    actor_type = ActorType.APP
    if roll < 0.85:
        action = Action.API_CALL
        service, scope, template = rng.choice(READS if rng.random() < 0.8 else WRITES)
        n = rng.randrange(2000)
        resource = template.format(org=f"org{n % 50}", name=f"repo{n}", n=n)
        background = rng.random() < 0.3
        outcome = Outcome.SUCCESS if rng.random() < 0.95 else Outcome.DENIED
    else:
        action = rng.choice(OTHER_ACTIONS)
        actor_type = ActorType.PERSON if action == Action.SIGNED_IN else ActorType.SYSTEM
    return AuditEvent(
        occurred_at=when,
        actor_type=actor_type,
        actor_label=app.name if actor_type == ActorType.APP else user.email,
        subject_user_id=user.pk,
        subject_label=user.email,
        app_id=app.pk,
        app_label=app.name,
        action=action,
        service=service,
        scope=scope,
        resource=resource,
        outcome=outcome,
        reason="" if outcome == Outcome.SUCCESS else "resource_not_granted",
        background=background,
        request_id=f"{rng.getrandbits(64):016x}",
        metadata={"status": 200 if outcome == Outcome.SUCCESS else 403},
    )


class Command(BaseCommand):
    help = "Append N generated, correctly chained audit events (benchmarks and demos)."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument("--people", type=int, default=500)
        parser.add_argument("--apps", type=int, default=20)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, count, days, people, apps, seed, **options):
        if count < 1 or days < 1 or people < 1 or apps < 1:
            raise CommandError("--count, --days, --people and --apps must be at least 1.")
        rng = random.Random(seed)
        users, app_list = bench_people_and_apps(people, apps)
        now = timezone.now()
        start = now - dt.timedelta(days=days)
        step = (now - start) / count
        done = 0
        while done < count:
            size = min(BATCH, count - done)
            with transaction.atomic():
                _lock_chain()
                last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
                prev = last or GENESIS_HASH
                batch = []
                for i in range(size):
                    event = make_event(rng, start + step * (done + i), users, app_list)
                    event.prev_hash = prev
                    event.hash = prev = event.compute_hash(prev)
                    batch.append(event)
                AuditEvent.objects.bulk_create(batch)
            done += size
            if done % 100_000 == 0 or done == count:
                self.stdout.write(f"{done} events")
        self.stdout.write(self.style.SUCCESS(f"Appended {count} events."))
