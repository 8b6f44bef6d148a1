import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from audit.actions import Action
from audit.models import GENESIS_HASH, AuditEvent
from audit.services import record_event

pytestmark = pytest.mark.django_db


def _events(n, **kwargs):
    return [record_event(Action.API_CALL, resource=f"octo/r{i}", **kwargs) for i in range(n)]


def _verify(*args):
    from io import StringIO

    out = StringIO()
    call_command("audit_verify", *args, stdout=out)
    return out.getvalue()


def _raw(sql, params):
    """Tamper as someone with the table owner's rights would: on PostgreSQL the append-only
    trigger must be switched off first (test_tamper_guard.py shows it refuses otherwise)."""
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER audit_append_only")
        cursor.execute(sql.format(table=table), params)
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER audit_append_only")


def test_verify_passes_on_an_intact_chain():
    _events(5)
    assert "Audit chain OK: 5 events verified" in _verify()


def test_verify_names_an_event_tampered_with_raw_sql():
    events = _events(6)
    victim = events[3]
    _raw("UPDATE {table} SET resource = %s WHERE id = %s", ["octo/innocent", victim.pk])
    with pytest.raises(CommandError, match=rf"BROKEN at event #{victim.pk}: its content"):
        _verify()


def test_verify_names_the_event_after_a_removed_one():
    events = _events(5)
    _raw("DELETE FROM {table} WHERE id = %s", [events[2].pk])
    with pytest.raises(CommandError, match=rf"BROKEN at event #{events[3].pk}: does not chain"):
        _verify()


def test_verify_catches_a_rehashed_forgery():
    events = _events(4)
    forged = AuditEvent.objects.get(pk=events[1].pk)
    forged.outcome = "denied"
    new_hash = forged.compute_hash(forged.prev_hash)
    _raw("UPDATE {table} SET outcome = 'denied', hash = %s WHERE id = %s", [new_hash, forged.pk])
    # The forged event is self-consistent; its successor no longer chains to it.
    with pytest.raises(CommandError, match=rf"event #{events[2].pk}"):
        _verify()


def test_verify_refuses_a_malformed_anchor():
    with pytest.raises(CommandError, match="64-character"):
        _verify("--anchor", "abc")


def _age(events, days):
    for event in events:
        _raw(
            "UPDATE {table} SET occurred_at = %s WHERE id = %s",
            [event.occurred_at - dt.timedelta(days=days), event.pk],
        )


def _rehash_all():
    # Ageing rows with raw SQL changes their content; re-chain them as if recorded back then.
    events = list(AuditEvent.objects.order_by("id"))
    for event in events:  # placeholders first: prev_hash and hash are unique
        _raw(
            "UPDATE {table} SET prev_hash = %s, hash = %s WHERE id = %s",
            [f"p{event.pk}", f"h{event.pk}", event.pk],
        )
    prev = GENESIS_HASH
    for event in events:
        new_hash = event.compute_hash(prev)
        _raw(
            "UPDATE {table} SET prev_hash = %s, hash = %s WHERE id = %s", [prev, new_hash, event.pk]
        )
        prev = new_hash


def test_archive_then_verify_round_trip(tmp_path):
    old = _events(4)
    _age(old, 400)
    recent = _events(3)
    _rehash_all()
    path = tmp_path / "audit-2025.jsonl"
    before = (timezone.now() - dt.timedelta(days=365)).date().isoformat()
    call_command("audit_archive", "--before", before, "--to", str(path))

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["id"] for line in lines] == [e.pk for e in old]
    remaining = list(AuditEvent.objects.order_by("id"))
    assert [e.pk for e in remaining[:3]] == [e.pk for e in recent]
    archived_event = remaining[-1]
    assert archived_event.action == Action.AUDIT_ARCHIVED
    assert archived_event.metadata["anchor_hash"] == lines[-1]["hash"] == remaining[0].prev_hash
    assert archived_event.metadata["count"] == 4

    # The database alone verifies (anchored by the recorded archive event) ...
    assert "4 events verified" in _verify()
    # ... and so do the archive and the database as one chain.
    assert "8 events verified" in _verify("--archive", str(path))
    assert "4 events verified" in _verify("--anchor", lines[-1]["hash"])


def test_tampering_with_the_archive_is_detected(tmp_path):
    old = _events(3)
    _age(old, 400)
    _events(1)
    _rehash_all()
    path = tmp_path / "a.jsonl"
    call_command("audit_archive", "--before", timezone.now().isoformat(), "--to", str(path))
    lines = path.read_text().splitlines()
    data = json.loads(lines[1])
    data["resource"] = "octo/forged"
    lines[1] = json.dumps(data)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CommandError, match=rf"event #{data['id']}"):
        _verify("--archive", str(path))


def test_archive_refuses_to_overwrite_and_future_dates(tmp_path):
    _events(2)
    path = tmp_path / "exists.jsonl"
    path.write_text("keep me\n")
    with pytest.raises(CommandError, match="never overwritten"):
        call_command("audit_archive", "--before", "2000-01-01", "--to", str(path))
    with pytest.raises(CommandError, match="future"):
        call_command("audit_archive", "--before", "2999-01-01", "--to", str(tmp_path / "x.jsonl"))
    with pytest.raises(CommandError, match="must be a date"):
        call_command("audit_archive", "--before", "last tuesday", "--to", str(tmp_path / "y.jsonl"))
    assert path.read_text() == "keep me\n"
    assert AuditEvent.objects.count() == 2


def test_archive_refuses_a_broken_chain_and_deletes_nothing(tmp_path):
    events = _events(3)
    _raw("UPDATE {table} SET reason = 'x' WHERE id = %s", [events[0].pk])
    path = tmp_path / "a.jsonl"
    with pytest.raises(CommandError, match=rf"#{events[0].pk} does not verify"):
        call_command("audit_archive", "--before", timezone.now().isoformat(), "--to", str(path))
    assert not path.exists()
    assert AuditEvent.objects.count() == 3


def test_retention_task_archives_only_when_configured(settings, tmp_path):
    from audit.tasks import apply_retention

    old = _events(2)
    _age(old, 40)
    _events(1)
    _rehash_all()
    settings.AUDIT_ARCHIVE_DIR = str(tmp_path)
    settings.AUDIT_RETENTION_DAYS = 0
    assert apply_retention() == 0
    assert AuditEvent.objects.count() == 3
    settings.AUDIT_RETENTION_DAYS = 30
    assert apply_retention() == 2
    (archive,) = tmp_path.glob("audit-before-*.jsonl")
    assert "4 events verified" in _verify("--archive", str(archive))
    assert AuditEvent.objects.filter(action=Action.AUDIT_ARCHIVED).count() == 1


def test_generate_events_appends_a_verifiable_chain():
    record_event(Action.SIGNED_IN)
    call_command(
        "audit_generate_events", "--count", "300", "--people", "5", "--apps", "2", stdout=None
    )
    assert AuditEvent.objects.count() == 301
    assert "301 events verified" in _verify()


def test_verify_detects_that_the_oldest_events_were_removed():
    events = _events(3)
    _raw("DELETE FROM {table} WHERE id = %s", [events[0].pk])
    with pytest.raises(CommandError, match=rf"event #{events[1].pk}: does not chain to the anchor"):
        _verify()


def test_retention_runs_daily_from_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["audit-retention"]
    assert entry["task"] == "audit.tasks.apply_retention" and entry["schedule"] == 86400
