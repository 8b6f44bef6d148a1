"""Issue 12 item 11: request ids made by the platform, a keyed chain, signed checkpoints, and on
PostgreSQL a trigger that refuses UPDATE and DELETE outside the archive."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.actions import Action
from audit.chain import archive_before, make_checkpoint
from audit.models import ALG_SHA256, AuditEvent, chain_hash
from audit.services import record_event
from tests.audit.test_commands import _raw  # tampering with the trigger switched off
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
TABLE = AuditEvent._meta.db_table


def _verify(*args):
    out = StringIO()
    call_command("audit_verify", *args, stdout=out)
    return out.getvalue()


def _checkpoint():
    out = StringIO()
    call_command("audit_checkpoint", stdout=out)
    return out.getvalue().strip()


# ---- request ids ---------------------------------------------------------------------------------
def test_the_callers_request_id_is_kept_apart_and_never_becomes_ours(client):
    user = UserFactory(email="ops@example.com")
    response = client.post(
        "/accounts/login/",
        {"login": user.email, "password": "correct horse battery staple"},
        HTTP_X_REQUEST_ID="forged-id-of-another-request",
    )
    assert response["X-Request-ID"] != "forged-id-of-another-request"
    assert response["X-Client-Request-ID"] == "forged-id-of-another-request"
    assert not AuditEvent.objects.filter(request_id="forged-id-of-another-request").exists()
    event = AuditEvent.objects.filter(client_request_id="forged-id-of-another-request").first()
    if event is not None:  # the sign-in was recorded
        assert event.request_id == response["X-Request-ID"]


# ---- the keyed chain ---------------------------------------------------------------------------
def test_a_chain_recomputed_without_the_key_does_not_verify():
    events = [record_event(Action.API_CALL, resource=f"octo/r{i}") for i in range(4)]
    # The attacker knows the algorithm but not AUDIT_CHAIN_KEY: rewrite event 2 and re-chain
    # everything after it with plain SHA-256 (what the chain was before issue 12).
    victim = AuditEvent.objects.get(pk=events[1].pk)
    victim.outcome = "denied"
    prev = victim.prev_hash
    for event in AuditEvent.objects.filter(pk__gte=victim.pk).order_by("id"):
        if event.pk == victim.pk:
            event.outcome = "denied"
        new = chain_hash(prev, event.canonical(), alg=ALG_SHA256)
        _raw(
            "UPDATE {table} SET prev_hash = %s, hash = %s WHERE id = %s",
            [f"p{event.pk}", f"h{event.pk}", event.pk],
        )
        _raw(
            "UPDATE {table} SET outcome = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [event.outcome, prev, new, event.pk],
        )
        prev = new
    with pytest.raises(CommandError, match=rf"BROKEN at event #{victim.pk}"):
        _verify()


def test_the_key_decides(settings):
    record_event(Action.API_CALL)
    assert "OK" in _verify()
    settings.AUDIT_CHAIN_KEY = "another-key-" * 4
    with pytest.raises(CommandError, match="BROKEN"):
        _verify()


# ---- checkpoints -------------------------------------------------------------------------------
def test_deleting_the_newest_events_is_caught_by_a_checkpoint():
    events = [record_event(Action.API_CALL, resource=f"octo/r{i}") for i in range(5)]
    checkpoint = _checkpoint()
    assert "Audit chain OK: 5 events" in _verify("--since-checkpoint", checkpoint)
    record_event(Action.API_CALL)  # later events are fine
    assert "OK" in _verify("--since-checkpoint", checkpoint)
    _raw("DELETE FROM {table} WHERE id >= %s", [events[3].pk])
    assert "OK" in _verify()  # the shorter chain alone still verifies ...
    with pytest.raises(CommandError, match=rf"BROKEN at event #{events[4].pk}: .*gone"):
        _verify("--since-checkpoint", checkpoint)  # ... the checkpoint does not


def test_a_forged_or_foreign_checkpoint_is_refused(settings):
    record_event(Action.API_CALL)
    checkpoint = _checkpoint()
    prefix, body, _signature = checkpoint.split(".")
    with pytest.raises(CommandError, match="signature"):
        _verify("--since-checkpoint", f"{prefix}.{body}.{'0' * 64}")
    with pytest.raises(CommandError, match="not an audit checkpoint"):
        _verify("--since-checkpoint", "hello")
    settings.AUDIT_CHAIN_KEY = "another-key-" * 4
    with pytest.raises(CommandError, match="signature"):
        _verify("--since-checkpoint", checkpoint)


def test_a_checkpoint_survives_archiving(tmp_path):
    old = [record_event(Action.API_CALL) for _ in range(3)]
    checkpoint = make_checkpoint()
    archive_before(before=timezone.now() + dt.timedelta(seconds=1), path=tmp_path / "a.jsonl")
    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in old]).exists()
    assert "OK" in _verify("--since-checkpoint", checkpoint)
    assert "OK" in _verify("--archive", str(tmp_path / "a.jsonl"))


# ---- the PostgreSQL trigger --------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE {table} SET outcome = 'denied' WHERE id = %s",
        "DELETE FROM {table} WHERE id = %s",
    ],
)
def test_postgresql_refuses_update_and_delete_of_audit_rows(sql):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    event = record_event(Action.API_CALL)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql.format(table=TABLE), [event.pk])
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.outcome == event.outcome and stored.hash == event.hash


# ---- the re-keying migration -------------------------------------------------------------------
def _legacy_chain():
    """Rewrite the stored events as the pre-issue-12 chain (plain SHA-256, no client_request_id)."""
    prev = AuditEvent.objects.order_by("id").first().prev_hash
    for event in AuditEvent.objects.order_by("id"):
        legacy = {k: v for k, v in event.canonical().items() if k != "client_request_id"}
        new = chain_hash(prev, legacy, alg=ALG_SHA256)
        _raw(
            "UPDATE {table} SET prev_hash = %s, hash = %s WHERE id = %s",
            [f"p{event.pk}", f"h{event.pk}", event.pk],
        )
        _raw("UPDATE {table} SET prev_hash = %s, hash = %s WHERE id = %s", [prev, new, event.pk])
        prev = new


def _rekey():
    from importlib import import_module

    from django.db.migrations.loader import MigrationLoader

    # The models as the migration sees them (plain managers, as in a real migrate run).
    state = MigrationLoader(connection).project_state(("audit", "0005_client_request_id"))
    migration = import_module("audit.migrations.0006_rekey_chain_with_hmac")
    # In a real migrate run 0006 comes before 0007 creates the append-only trigger.
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER audit_append_only")
        try:
            migration.rekey(state.apps, None)
        finally:
            if connection.vendor == "postgresql":
                cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER audit_append_only")


def test_the_migration_rekeys_a_legacy_chain_and_refuses_a_broken_one():
    events = [record_event(Action.API_CALL, resource=f"octo/r{i}") for i in range(3)]
    _legacy_chain()
    with pytest.raises(CommandError):
        _verify()  # the legacy hashes do not verify under the key
    _rekey()
    assert "Audit chain OK: 3 events" in _verify()
    _legacy_chain()
    _raw("UPDATE {table} SET resource = 'forged' WHERE id = %s", [events[1].pk])
    with pytest.raises(RuntimeError, match=f"#{events[1].pk}"):
        _rekey()
