import datetime as dt
import json

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import RequestFactory

from audit.actions import Action, ActorType, Outcome
from audit.models import GENESIS_HASH, AuditEvent
from audit.services import record_event
from tests.factories import AppFactory, GrantFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_events_chain_from_genesis():
    first = record_event(Action.SIGNED_IN)
    second = record_event(Action.SIGNED_OUT)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert first.hash == first.compute_hash(GENESIS_HASH)
    assert second.occurred_at >= first.occurred_at


def test_every_field_is_recorded_and_hash_survives_a_reload():
    grant = GrantFactory()
    staff = UserFactory(is_staff=True)
    request = RequestFactory().get("/", REMOTE_ADDR="::ffff:192.0.2.7")
    request.request_id = "req-123"
    event = record_event(
        Action.API_CALL,
        actor_type=ActorType.APP,
        grant=grant,
        service="github",
        scope="services.github.repositories.read",
        resource="octo/docs",
        outcome=Outcome.DENIED,
        reason="resource_not_granted",
        background=True,
        request=request,
        metadata={"status": 403, "path": ("a", "b"), 7: "int key"},
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.app_id == grant.app_id and stored.app_label == grant.app.name
    assert stored.subject_user_id == grant.user_id and stored.subject_label == grant.user.email
    assert stored.grant_id == grant.pk
    assert stored.actor_type == "app" and stored.actor_label == grant.app.name
    assert (stored.service, stored.scope, stored.resource) == (
        "github",
        "services.github.repositories.read",
        "octo/docs",
    )
    assert stored.outcome == "denied" and stored.reason == "resource_not_granted"
    assert stored.background is True
    assert stored.request_id == "req-123"
    assert stored.source_ip is not None and "192.0.2.7" in stored.source_ip
    assert stored.metadata == {"status": 403, "path": ["a", "b"], "7": "int key"}
    # What verify recomputes from the stored row equals what was hashed at insert time.
    assert stored.compute_hash(stored.prev_hash) == stored.hash
    record_event(Action.GRANT_REVOKED, actor_type=ActorType.STAFF, actor_user=staff, grant=grant)
    last = AuditEvent.objects.order_by("-id").first()
    assert last.actor_label == staff.email and last.actor_type == "staff"


def test_overlong_and_nul_text_is_stored_not_refused():
    event = record_event(
        Action.API_CALL,
        service="s" * 100,
        scope="x" * 300,
        resource="octo/\x00docs" + "r" * 1000,
        reason="why" * 400,
        request_id="i" * 200,
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert "\x00" not in stored.resource
    assert len(stored.resource) == 500 and len(stored.scope) == 100 and len(stored.service) == 32
    assert stored.compute_hash(stored.prev_hash) == stored.hash


def test_no_token_secret_or_body_reaches_a_stored_event():
    token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    record_event(
        Action.CONNECTION_REFRESH_FAILED,
        reason=f"refresh failed for token {token}",
        resource=f"https://api.example/?access_token={token}",
        metadata={
            "access_token": token,
            "refresh_token": "r-1",
            "client_secret": "s-1",
            "body": {"text": "hello"},
            "response": {"error": "bad_refresh_token", "detail": f"Bearer {token}"},
        },
    )
    row = AuditEvent.objects.values().get()
    dumped = json.dumps(row, default=str)
    for leak in (token, "r-1", "s-1", "hello"):
        assert leak not in dumped
    assert row["metadata"]["response"]["error"] == "bad_refresh_token"


def test_events_are_append_only_in_the_application():
    event = record_event(Action.SIGNED_IN)
    event.reason = "changed"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(reason="changed")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()


def test_a_fork_of_the_chain_is_refused_by_the_database():
    first = record_event(Action.SIGNED_IN)
    second = record_event(Action.SIGNED_OUT)
    fork = AuditEvent(
        occurred_at=second.occurred_at + dt.timedelta(seconds=1),
        actor_type="system",
        action=Action.SIGNED_OUT,
        prev_hash=first.hash,  # the same predecessor as `second`
    )
    fork.hash = fork.compute_hash(first.hash)
    with pytest.raises(IntegrityError), transaction.atomic():
        fork.save()


def test_recording_inside_a_rolled_back_transaction_leaves_no_gap_in_the_chain():
    first = record_event(Action.SIGNED_IN)
    with pytest.raises(RuntimeError), transaction.atomic():
        record_event(Action.GRANT_REVOKED)
        raise RuntimeError
    after = record_event(Action.SIGNED_OUT)
    assert after.prev_hash == first.hash


def test_grant_fills_in_app_and_subject():
    app = AppFactory(name="Acme Notes")
    grant = GrantFactory(app=app)
    event = record_event(Action.CONSENT_GRANTED, actor_type=ActorType.PERSON, grant=grant)
    assert event.app_label == "Acme Notes" and event.subject_user_id == grant.user_id


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_on_postgresql_keep_one_chain():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: checks the advisory lock under real concurrency")
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def work(n):
        try:
            for _ in range(20):
                record_event(Action.API_CALL, metadata={"n": n})
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(8)))
    from audit.chain import verify_database

    result = verify_database()
    assert result.ok and result.checked == 160


@pytest.mark.postgres
def test_postgresql_append_writes_the_time_as_python_isoformat_does():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the one-round-trip append formats the time in SQL")
    from audit.services import _ISO_SQL

    values = (
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),  # no microseconds: isoformat omits them
        dt.datetime(2026, 1, 2, 3, 4, 5, 12, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'America/New_York'")  # the session's zone is ignored
        for value in values:
            cursor.execute(
                f"WITH now_ AS (SELECT %s::timestamptz AS ts) SELECT {_ISO_SQL}", [value]
            )
            assert cursor.fetchone()[0] == value.isoformat()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_append_is_one_round_trip_and_the_chain_verifies():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the one-round-trip append")
    from django.test.utils import CaptureQueriesContext

    from audit.chain import verify_database

    grant = GrantFactory()
    first = record_event(Action.SIGNED_IN)
    with CaptureQueriesContext(connection) as ctx:
        event = record_event(
            Action.API_CALL,
            actor_type=ActorType.APP,
            grant=grant,
            resource="octo/\u00e9t\u00e9",
            reason='quote " and backslash \\',
            metadata={"status": 200, "latency_ms": 1.5, "nested": {"a": [1, "b"]}},
        )
    assert len(ctx.captured_queries) == 1  # lock, read, insert and commit in one round trip
    assert event.pk is not None and event.prev_hash == first.hash
    assert event.hash == event.compute_hash(first.hash)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.occurred_at == event.occurred_at and stored.occurred_at >= first.occurred_at
    assert stored.compute_hash(stored.prev_hash) == stored.hash == event.hash
    with transaction.atomic():  # inside a caller's transaction: same chain, savepoint-safe
        inner = record_event(Action.SIGNED_OUT)
    assert inner.prev_hash == event.hash
    result = verify_database()
    assert result.ok and result.checked == 3


@pytest.mark.postgres
def test_postgresql_append_function_takes_the_columns_the_service_sends():
    """A hashed column added to the model without a migration replacing ``audit_append_one``
    would be hashed but not stored (and fail verification): this catches it first."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the append function")
    from audit.services import _SQL_FIELDS

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT proargnames FROM pg_proc WHERE proname = 'audit_append_one' AND pronargs = %s",
            [2 + len(_SQL_FIELDS) + 4],
        )
        (names,) = cursor.fetchone()
    wanted = ["lock_id", "genesis", *(f"p_{f.column}" for f in _SQL_FIELDS)]
    assert names[: len(wanted)] == wanted
    assert names[len(wanted) : len(wanted) + 4] == ["opad", "ipad", "before_", "after_"]


# --- group commit: the threads of a process share one append (audit.services.GroupCommit) -------
def _in_threads(n: int, fn) -> list:
    """Run ``fn(i)`` in ``n`` threads at once; return what each returned or raised."""
    import threading

    from django.db import connections

    results: list = [None] * n
    start = threading.Barrier(n)

    def run(i):
        try:
            start.wait()
            results[i] = fn(i)
        except BaseException as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.fixture
def held_first_batch(monkeypatch):
    """A fresh appender whose first batch (one event) waits until seven more are queued, so that
    what follows is one batch whatever the machine's timing (a wait on a condition, not a time)."""
    import time

    from audit import services

    calls: list[int] = []

    def append_batch(events):
        calls.append(len(events))
        if len(calls) == 1:
            deadline = time.monotonic() + 30
            while len(appender._queue) < 7 and time.monotonic() < deadline:
                time.sleep(0.005)
        services._append_batch(events)

    appender = services.GroupCommit(append_batch=append_batch)
    monkeypatch.setattr(services, "_group_commit", appender)
    return calls


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_of_a_process_share_one_statement_and_each_is_stored(held_first_batch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: group commit is its one-statement append")
    import time

    from audit.chain import verify_database

    calls = held_first_batch

    def append(i):
        while i and not calls:  # the others queue while the first appends
            time.sleep(0.005)
        return record_event(Action.API_CALL, metadata={"n": i}, reason=f"thread {i}")

    results = _in_threads(8, append)
    assert all(isinstance(r, AuditEvent) and r.pk for r in results), results
    # Every caller got its own event back, as it was stored.
    for i, event in enumerate(results):
        stored = AuditEvent.objects.get(pk=event.pk)
        assert stored.metadata == {"n": i} and stored.reason == f"thread {i}"
        assert stored.hash == event.hash and stored.prev_hash == event.prev_hash
        assert stored.occurred_at == event.occurred_at
    assert calls == [1, 7]  # two statements for eight events
    result = verify_database()
    assert result.ok and result.checked == 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failed_batch_raises_in_every_thread_whose_event_it_held_and_stores_none(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: group commit is its one-statement append")
    from django.db import DataError

    from audit import services

    def failing(events):
        raise DataError("the database refused the batch")

    monkeypatch.setattr(services, "_group_commit", services.GroupCommit(append_batch=failing))
    results = _in_threads(4, lambda i: record_event(Action.API_CALL, metadata={"n": i}))
    assert all(isinstance(r, DataError) for r in results), results
    assert not AuditEvent.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_event_is_committed_when_record_event_returns():
    """Durable before the response: another connection sees the row as soon as the call returns
    (it was committed, not left in a batch that a process dying now would lose)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: group commit is its one-statement append")
    import psycopg

    settings_dict = connection.settings_dict
    other = psycopg.connect(
        host=settings_dict["HOST"] or None,
        port=settings_dict["PORT"] or None,
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"] or None,
        dbname=settings_dict["NAME"],
        autocommit=True,
    )
    try:
        results = _in_threads(4, lambda i: record_event(Action.API_CALL, metadata={"n": i}))
        ids = [r.pk for r in results]
        for event in results:
            row = other.execute(
                f"SELECT hash FROM {AuditEvent._meta.db_table} WHERE id = %s",
                [event.pk],
            ).fetchone()
            assert row == (event.hash,)
        assert len(set(ids)) == 4
    finally:
        other.close()
