"""Response time of the admin's audit event list with a million events, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helper_audit \
        .venv/bin/python bench/admin_audit_list.py --events 1000000

Migrates the database, tops the audit log up to ``--events`` events with
``manage.py audit_generate_events`` (a year of traffic from 500 people and 20 apps), then requests
the admin list pages in-process (Django's test client, a signed-in superuser with MFA, DEBUG off
at request time) and prints the median and the worst of ``--repeat`` requests per page, plus the
number of SQL queries each page ran. Also times one record_event (the broker's hot path) and
audit_verify over the whole chain.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")  # dev defaults for keys; DEBUG is turned off below
os.environ.setdefault("HTTPS", "0")
os.environ.setdefault("LOG_JSON", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--skip-verify", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database: this benchmark is about PostgreSQL.")
    call_command("migrate", verbosity=0)

    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    from audit.actions import Action
    from audit.models import AuditEvent
    from audit.services import record_event
    from identity.models import User

    have = AuditEvent.objects.count()
    if have < args.events:
        started = time.perf_counter()
        call_command("audit_generate_events", "--count", str(args.events - have))
        print(f"generated {args.events - have} events in {time.perf_counter() - started:.0f} s")
    with connection.cursor() as cursor:
        # What autovacuum does to a table in service: statistics, and the visibility map that
        # lets the capped count be an index-only scan.
        cursor.execute("VACUUM (ANALYZE) audit_auditevent")
    total = AuditEvent.objects.count()

    staff = User.objects.filter(email="bench-admin@bench.invalid").first()
    if staff is None:
        staff = User.objects.create_superuser("bench-admin@bench.invalid", "bench-password-123")
        TOTP.activate(staff, generate_totp_secret())
    client = Client()
    client.force_login(staff)
    settings.DEBUG = False

    # A generated broker call about a bench person, on a GitHub repository (org7/repo123).
    sample = (
        AuditEvent.objects.filter(
            action=Action.API_CALL,
            service="github",
            subject_label__endswith="@bench.invalid",
            id__gt=AuditEvent.objects.order_by("-id").values_list("id", flat=True)[:1][0] - 10_000,
        )
        .order_by("-id")
        .first()
    )
    newest = sample.occurred_at
    person = sample.subject_label
    app_id = sample.app_id
    resource_prefix = sample.resource.split("/")[0] + "/"
    base = "/admin/audit/auditevent/"
    pages = [
        ("list, no filter", base),
        ("page 50", base + "?p=50"),
        ("filter action=broker.call", base + "?action=broker.call"),
        ("filter outcome=denied", base + "?outcome=denied"),
        ("filter service=slack", base + "?service=slack"),
        ("filter actor_type=system", base + "?actor_type=system"),
        ("filter app", base + f"?app={app_id}"),
        ("date: one year", base + f"?occurred_at__year={newest.year}"),
        (
            "date: one month",
            base + f"?occurred_at__year={newest.year}&occurred_at__month={newest.month}",
        ),
        (
            "date: one day",
            base
            + f"?occurred_at__year={newest.year}&occurred_at__month={newest.month}"
            + f"&occurred_at__day={newest.day}",
        ),
        ("search person e-mail", base + f"?q={person}"),
        ("search resource prefix", base + f"?q={resource_prefix}"),
        ("denied + slack + search person", base + f"?outcome=denied&service=slack&q={person}"),
        ("grants list", "/admin/consent/grant/"),
    ]
    print(f"\nadmin audit list, PostgreSQL, {total:,} events, {args.repeat} requests per page\n")
    print(f"search terms: person {person!r}, resource prefix {resource_prefix!r}")
    print("(page ms: whole request in-process, rendering included; SQL ms: the database's share)")
    print(f"{'page':34} {'median ms':>10} {'max ms':>8} {'SQL ms':>8} {'queries':>8}")
    for label, url in pages:
        times = []
        sql_times = []
        queries = 0
        for _ in range(args.repeat):
            reset_queries()
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            queries = len(ctx.captured_queries)
            sql_times.append(sum(float(q["time"]) for q in ctx.captured_queries) * 1000)
        print(
            f"{label:34} {statistics.median(times):10.1f} {max(times):8.1f} "
            f"{statistics.median(sql_times):8.1f} {queries:8d}"
        )

    # CSV export of a filtered view (one day), streamed.
    url = base + (
        f"export.csv?occurred_at__year={newest.year}&occurred_at__month={newest.month}"
        f"&occurred_at__day={newest.day}"
    )
    started = time.perf_counter()
    response = client.get(url)
    rows = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1
    print(
        f"{'CSV export, one day':34} {(time.perf_counter() - started) * 1000:10.1f} ms ({rows} rows)"
    )

    # The broker's hot path: one record_event (lock, read last hash, insert).
    times = []
    for _ in range(200):
        started = time.perf_counter()
        record_event(Action.API_CALL, service="github", resource="octo/bench")
        times.append((time.perf_counter() - started) * 1000)
    print(
        f"\nrecord_event: median {statistics.median(times):.2f} ms, "
        f"p95 {sorted(times)[int(len(times) * 0.95)]:.2f} ms ({len(times)} events)"
    )
    if not args.skip_verify:
        from audit.chain import verify_database

        started = time.perf_counter()
        result = verify_database()
        print(
            f"audit_verify: {result.checked:,} events in {time.perf_counter() - started:.1f} s, "
            f"{'OK' if result.ok else result.first_break}"
        )


if __name__ == "__main__":
    main()
