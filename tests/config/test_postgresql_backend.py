"""The PostgreSQL backend's health check: no round trip for a healthy idle connection, and a
connection the server ended is replaced before the request uses it (config/postgresql)."""

import select

import psycopg
from django.db import close_old_connections, connection

from tests.markers import postgresql_only

pytestmark = postgresql_only("the backend's health check and a terminated connection")


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _terminate(pid: int) -> None:
    """What a database restart does to every connection: the server ends it."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
    # The server's goodbye arrives asynchronously: wait until the socket has it.
    poller = select.poll()
    poller.register(connection.connection.fileno(), select.POLLIN)
    assert poller.poll(5000), "the terminated connection never became readable"


def test_a_healthy_idle_connection_is_checked_without_a_query(monkeypatch):
    _backend_pid()
    raw = connection.connection
    sent = []
    real_cursor = raw.cursor
    monkeypatch.setattr(raw, "cursor", lambda *a, **k: sent.append(a) or real_cursor(*a, **k))

    assert connection.is_usable()
    assert sent == []


def test_the_check_asks_the_server_when_a_transaction_is_open(monkeypatch):
    connection.ensure_connection()
    raw = connection.connection
    raw.execute("BEGIN")
    sent = []
    real_cursor = raw.cursor
    monkeypatch.setattr(raw, "cursor", lambda *a, **k: sent.append(a) or real_cursor(*a, **k))
    try:
        assert connection.is_usable()
        assert len(sent) == 1  # Django's own SELECT 1
    finally:
        raw.execute("ROLLBACK")


def test_a_connection_the_server_ended_is_replaced_before_the_request_uses_it(client):
    old_pid = _backend_pid()
    _terminate(old_pid)
    assert not connection.is_usable()

    close_old_connections()  # what request_started does (Django's test client skips it)
    response = client.get("/healthz")

    assert response.json()["checks"]["database"] == "ok"
    assert _backend_pid() != old_pid


def test_without_the_check_that_request_would_have_failed(client):
    """The attack on the check itself: the same ended connection, health checks off, fails."""
    old_pid = _backend_pid()
    _terminate(old_pid)
    connection.health_check_enabled = False
    try:
        close_old_connections()
        assert client.get("/healthz").json()["checks"]["database"] == "down"
    finally:
        connection.health_check_enabled = True
        connection.close()  # the flush after the test needs a working connection


TIMESTAMPS = (
    "'2026-03-29 01:30:00.123456+02'::timestamptz",
    "'2026-12-07 14:00:00+00'::timestamptz",
    "'0001-01-01 00:00:00+00'::timestamptz",
    "'9999-12-31 23:59:59.999999+00'::timestamptz",
    "'1969-07-20 20:17:40.5-05:30'::timestamptz",
    "NULL::timestamptz",
)


def _read(sql_values: str):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql_values}")
        return cursor.fetchone()


def test_timestamps_are_read_by_psycopgs_own_loader_as_django_reads_them():
    import datetime

    from django.db.backends.postgresql.psycopg_any import register_tzloader

    from config.postgresql.base import UtcTimestamptzLoader

    connection.ensure_connection()
    raw = connection.connection
    assert raw.adapters.get_loader(1184, psycopg.pq.Format.TEXT) is UtcTimestamptzLoader
    ours = _read(", ".join(TIMESTAMPS))
    with raw.cursor() as cursor:  # Django's own loader, on one cursor
        register_tzloader(datetime.UTC, cursor)
        cursor.execute(f"SELECT {', '.join(TIMESTAMPS)}")
        djangos = cursor.fetchone()
    assert ours == djangos
    assert [v.tzinfo for v in ours if v is not None] == [datetime.UTC] * (len(TIMESTAMPS) - 1)
    assert ours[0] == datetime.datetime(2026, 3, 28, 23, 30, 0, 123456, tzinfo=datetime.UTC)


def test_a_session_in_another_zone_still_reads_the_instant_in_utc():
    import datetime

    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'Europe/Paris'")
    try:
        (value,) = _read(TIMESTAMPS[0])
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
    assert value == datetime.datetime(2026, 3, 28, 23, 30, 0, 123456, tzinfo=datetime.UTC)
    assert value.tzinfo is datetime.UTC
