import pytest

from tests.browser import browser, page  # noqa: F401 - fixtures for browser tests
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
