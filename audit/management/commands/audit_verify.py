"""``manage.py audit_verify [--archive FILE.jsonl] [--anchor HASH] [--since-checkpoint LINE]``:
check the audit hash chain (and, with a checkpoint from ``audit_checkpoint``, that nothing up to
it was removed or rewritten)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.chain import (
    ArchiveError,
    CheckpointError,
    verify_archive_then_database,
    verify_database,
    verify_since_checkpoint,
)
from audit.models import GENESIS_HASH


class Command(BaseCommand):
    help = "Verify the audit log's hash chain and name the first broken event."

    def add_arguments(self, parser):
        parser.add_argument(
            "--archive",
            type=Path,
            help="An archive written by audit_archive: verify it, then the database from its end.",
        )
        parser.add_argument(
            "--anchor",
            help="The hash the oldest event in the database chains to (an archive's last hash). "
            "Default: genesis, or the anchor recorded by the newest audit.archived event.",
        )

        parser.add_argument(
            "--since-checkpoint",
            metavar="CHECKPOINT",
            help="A line printed by audit_checkpoint: also check that its event is still there "
            "with the same hash (the newest events were not deleted, the chain not recomputed).",
        )

    def handle(self, *args, archive=None, anchor=None, since_checkpoint=None, **options):
        if anchor is not None and (len(anchor) != 64 or set(anchor) - set("0123456789abcdef")):
            raise CommandError("--anchor must be a 64-character lower-case hex hash.")
        try:
            if since_checkpoint is not None:
                result = verify_since_checkpoint(since_checkpoint)
            elif archive is not None:
                if not archive.exists():
                    raise CommandError(f"{archive} does not exist.")
                result = verify_archive_then_database(archive, anchor=anchor or GENESIS_HASH)
            else:
                result = verify_database(anchor=anchor)
        except (ArchiveError, CheckpointError) as exc:
            raise CommandError(str(exc)) from None
        if not result.ok:
            raise CommandError(
                f"Audit chain BROKEN at {result.first_break} "
                f"({result.checked} events verified before it)."
            )
        self.stdout.write(
            f"Audit chain OK: {result.checked} events verified, last hash {result.last_hash}."
        )
