import gc

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished
from django.db import connection, connections

from tests.browser import browser, page  # noqa: F401 - fixtures for browser tests
from tests.concurrency import other_database_sessions
from tests.factories import DEFAULT_PASSWORD, UserFactory


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def password():
    return DEFAULT_PASSWORD


@pytest.fixture
def signed_in_client(client, user):
    client.force_login(user)
    return client


# --- database connections -------------------------------------------------------------------
@pytest.fixture(autouse=True, scope="session")
def _live_server_requests_close_their_connections():
    """A live server (pytest-django's, a thread per HTTP connection) serves a keep-alive client
    (a browser, a requests.Session) on one thread until the client hangs up, and with
    CONN_MAX_AGE that thread keeps its database connection as long: past the test, past the
    session even, where it keeps pytest-django from dropping the test database. Its requests
    give their connection back when they end, as with CONN_MAX_AGE = 0."""

    def close(sender, **kwargs):
        if isinstance(sender, type) and issubclass(sender, WSGIHandler):  # not the test Client
            connections.close_all()

    request_finished.connect(close, dispatch_uid="tests.live_server_close")
    yield
    request_finished.disconnect(dispatch_uid="tests.live_server_close")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Before the test database is dropped: fail if a session other than the test thread's own is
    still connected to it, which would keep the database from being dropped: a connection some
    code still holds. Connections only garbage (a thread that ended without closing its own:
    ``connections.close_all()`` before it ends, tests/concurrency.py) are collected first, so the
    run does not pass or fail on the collector's timing; tests/connections/test_sweep_sessions.py
    shows how to catch those where they are made."""
    yield
    if connection.vendor != "postgresql":
        return
    gc.collect()
    with django_db_blocker.unblock():
        others = other_database_sessions()
    if not others:
        return
    pytest.fail(
        f"{len(others)} other session(s) still connected to the test database at the end of the"
        " run, from threads that did not close their database connection:\n"
        + "\n".join(
            f"  pid {pid} {state}, since {start:%H:%M:%S}: {query}"
            for pid, state, start, query in others
        ),
        pytrace=False,
    )


# --- apps_registry ------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _broker_fact_cache_off(monkeypatch):
    """The broker's per-process fact cache (on with PostgreSQL outside a transaction, as in CI's
    transactional tests) outlives a test and would hide the queries other tests count;
    tests/broker/test_factcache.py turns it on."""
    from broker import factcache

    monkeypatch.setattr(factcache, "enabled", lambda: False)
    factcache.clear_local()


@pytest.fixture(autouse=True)
def _refresh_sweep_in_one_process(settings):
    """A sweep queues its other parts for other worker processes (connections.sweep); no test
    worker reads that queue, so a test's sweep runs whole in the test's process unless the test
    says otherwise (tests/connections/test_tasks.py)."""
    settings.CONNECTION_REFRESH_SWEEP_PROCESSES = 1


@pytest.fixture(autouse=True)
def _oauth_rate_limits_off(settings):
    """The token, revocation and introspection rate limits count across tests in one process
    (the cache outlives a test); they are off unless a test turns them on."""
    settings.OAUTH_RATE_LIMIT_PER_CLIENT = 0
    settings.OAUTH_RATE_LIMIT_PER_IP = 0
    settings.OAUTH_DCR_RATE_LIMIT_PER_HOUR = 0


# --- audit ----------------------------------------------------------------------------------------
@pytest.fixture
def staff_user(db):
    """A superuser with TOTP turned on (the admin refuses staff without MFA)."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    staff = UserFactory(is_staff=True, is_superuser=True)
    TOTP.activate(staff, generate_totp_secret())
    return staff


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client
