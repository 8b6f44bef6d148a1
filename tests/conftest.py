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
