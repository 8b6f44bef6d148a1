"""``manage.py audit_archive --before DATE --to FILE.jsonl``: archive, then remove, old events."""

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.chain import ArchiveError, archive_before


def parse_moment(raw: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise CommandError(
            f"--before must be a date (2026-01-31) or ISO date-time, not {raw!r}."
        ) from None
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


class Command(BaseCommand):
    help = (
        "Write audit events older than --before to a JSON lines file that keeps the chain "
        "verifiable (its last hash anchors the rest), record the archive, then delete them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--before", required=True, help="Archive events before this (UTC).")
        parser.add_argument("--to", required=True, type=Path, dest="path", help="FILE.jsonl")
        parser.add_argument("--reason", default="", help="Why (recorded in the audit log).")

    def handle(self, *args, before, path, reason, **options):
        moment = parse_moment(before)
        if moment > timezone.now():
            raise CommandError("--before is in the future: only past events can be archived.")
        try:
            result = archive_before(before=moment, path=path, reason=reason)
        except ArchiveError as exc:
            raise CommandError(str(exc)) from None
        if result.count == 0:
            self.stdout.write(f"No events before {moment.isoformat()}: nothing archived.")
            return
        self.stdout.write(
            f"Archived {result.count} events (#{result.first_id}..#{result.last_id}) to {path}; "
            f"anchor {result.anchor_hash}. Verify with: manage.py audit_verify --archive {path}"
        )
