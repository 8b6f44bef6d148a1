"""A person connects the sandbox GitHub in a real browser, then disconnects it."""

import pytest

from connections.models import Connection
from tests.browser import shot
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_connect_and_disconnect_in_a_browser(sandbox, page):
    user = UserFactory()
    page.goto(f"{sandbox.url}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{sandbox.url}/connections/")
    page.click("text=Connect Sandbox GitHub")
    page.click("text=Continue to Sandbox GitHub")
    assert "Sandbox" in page.inner_text(".sandbox-badge")
    shot(page, "connections-01-sandbox-authorize")
    page.check("input[name=account][value='583231']")
    page.click("button[value=approve]")
    page.wait_for_url(f"{sandbox.url}/connections/")
    assert "octocat" in page.content()
    shot(page, "connections-02-connected")
    connection = Connection.objects.get(user=user)
    page.click(f"#connection-{connection.pk} >> text=Disconnect")
    assert "loses access" in page.content()
    page.click("button.destructive")
    page.wait_for_url(f"{sandbox.url}/connections/")
    connection.refresh_from_db()
    assert connection.status == "revoked" and connection.access_token is None
