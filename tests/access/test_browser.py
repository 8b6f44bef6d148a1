"""The "Your access" dashboard in real headless Chromium, against a live server; the broker is
called over real HTTP with the app's platform token."""

import pytest
import requests

from audit.actions import Action
from audit.models import AuditEvent
from consent.models import Grant
from tests.access.helpers import issue_token
from tests.access.test_dashboard import BACKGROUND, GH_READ, make_access
from tests.browser import shot
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/accounts/login/?next=/access/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/access/")


def _broker(live_server, path, token):
    return requests.get(
        f"{live_server.url}/api/v1/{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


@pytest.fixture
def person():
    return UserFactory(email="ada@example.com", name="Ada")


def test_dashboard_shows_connections_apps_resources_background_and_last_use(
    live_server, page, person
):
    make_access(person)
    _sign_in(page, live_server, person)
    connections = page.locator("#connections")
    assert connections.locator("tr.connection").count() == 2
    assert "sandbox" in connections.inner_text() and "octo" in connections.inner_text()
    grant = page.locator("article.grant")
    assert grant.count() == 1
    text = grant.inner_text()
    assert "Acme Notes" in text
    assert "Read selected GitHub repositories" in text
    assert "octo/docs" in text and "octo/site" in text and "#general" in text
    assert "Yes: it may act while you are away" in grant.locator("dd.background").inner_text()
    assert grant.locator("dd.last-used").inner_text() != "Never"
    github_row = grant.locator("tr.service[data-service=github] td.service-last-used")
    assert github_row.inner_text() != "Never"
    assert "Acme Notes read repository octo/docs at" in page.locator("#activity").inner_text()
    shot(page, "audit-01-dashboard")


def test_revoking_an_app_then_its_token_is_refused_by_the_broker(live_server, page, person):
    _github, _slack, (grant,) = make_access(person)
    token = issue_token(app=grant.app, user=person, scopes=grant.scopes)
    assert _broker(live_server, "me", token).status_code == 200

    _sign_in(page, live_server, person)
    page.click(f"article.grant[data-grant='{grant.pk}'] >> text=Revoke access…")
    consequences = page.locator("ul.consequences").inner_text()
    assert "Acme Notes loses all access: GitHub, Slack" in consequences
    shot(page, "audit-02-revoke-confirm")
    page.click("button:has-text('Yes, revoke')")
    page.wait_for_url(f"{live_server.url}/access/")
    assert "Acme Notes no longer has access." in page.content()
    assert page.locator("article.grant").count() == 0
    shot(page, "audit-03-after-revoke")

    refused = _broker(live_server, "me", token)
    assert refused.status_code in (401, 403)
    assert refused.json()["error"]["code"] in ("invalid_token", "grant_revoked")
    assert Grant.objects.get(pk=grant.pk).revoked_at is not None
    assert AuditEvent.objects.filter(action=Action.GRANT_REVOKED, grant_id=grant.pk).exists()


def test_narrowing_a_grant_keeps_the_rest_working(live_server, page, person):
    _github, _slack, (grant,) = make_access(person)
    token = issue_token(app=grant.app, user=person, scopes=grant.scopes)
    _sign_in(page, live_server, person)
    page.click(f"article.grant[data-grant='{grant.pk}'] >> text=Narrow…")
    page.check(f"input[name=remove_resources][value='{GH_READ}|octo/site']")
    page.check(f"input[name=remove_scopes][value='{BACKGROUND}']")
    shot(page, "audit-04-narrow")
    page.click("button:has-text('Remove the ticked items')")
    page.wait_for_url(f"{live_server.url}/access/")
    text = page.locator("article.grant").inner_text()
    assert "octo/docs" in text and "octo/site" not in text
    assert page.locator("dd.background").inner_text() == "No"
    shot(page, "audit-05-after-narrow")

    assert _broker(live_server, "me", token).status_code == 200  # the rest works
    refused = _broker(live_server, "github/repos/octo/site", token)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "resource_not_granted"
