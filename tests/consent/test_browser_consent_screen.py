"""The consent screen in real headless Chromium at 375 and 1280 px, checked with axe-core: the
account picker for two accounts switches lists without a round trip, counts and the "selected"
summary follow the ticks, private/public markers, provider scopes in words, every optional
permission off by default; then approval records exactly what was picked."""

import pytest

from consent import selectors
from consent.models import Grant
from tests.browser import check_page
from tests.consent.helpers import (
    BACKGROUND,
    GH_READ,
    REDIRECT,
    authorize_url,
    github,
    make_app,
    pkce_pair,
)
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTS = {
    "hubot": (
        {"id": "hubot/robot-brain", "label": "hubot/robot-brain", "private": True},
        {"id": "hubot/site", "label": "hubot/site", "private": False},
    ),
    "octocat": (
        {"id": "octocat/hello-world", "label": "octocat/hello-world", "private": False},
        {"id": "octocat/notes", "label": "octocat/notes", "private": True},
        {"id": "octocat/spoon", "label": "octocat/spoon", "private": False},
    ),
}


@pytest.fixture
def lists(monkeypatch):
    """Each account's repositories (the live server runs in this process)."""
    calls = []

    def fake(connection, kind):
        calls.append(connection.login)
        return selectors.ResourceListing(LISTS[connection.login])

    monkeypatch.setattr(selectors, "list_resources", fake)
    return calls


def test_consent_screen_picker_counts_markers_and_defaults(live_server, page, lists):
    person = UserFactory(email="grace@example.com")
    hubot = github(person, login="hubot")
    octocat = github(person, login="octocat")
    app = make_app(
        {GH_READ: True, BACKGROUND: False}, name="Standup Summariser", may_request_background=True
    )
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", person.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/access/")
    page.goto(live_server.url + authorize_url(app, [GH_READ, BACKGROUND], challenge=pkce_pair()[1]))

    picker = page.locator("#accounts-github")
    assert picker.locator("input[type=radio]").count() == 2
    assert picker.locator(f"input[value='{hubot.pk}']").is_checked()
    assert not page.locator("[data-update-button]").is_visible()  # JS switches, no round trip
    first = page.locator(f"[data-account-panel='github:{hubot.pk}']")
    second = page.locator(f"[data-account-panel='github:{octocat.pk}']")
    assert first.is_visible() and not second.is_visible()
    assert "Private" in first.locator("label:has-text('hubot/robot-brain') .badge").inner_text()
    assert "Public" in first.locator("label:has-text('hubot/site') .badge").inner_text()
    assert "0 of 2 selected" in first.locator(".selection-summary").inner_text()
    # Every optional permission starts off; "session only" is said in one sentence.
    assert not page.locator(f"input[name=accept][value='{BACKGROUND}']").is_checked()
    assert "Session only" in page.locator(".session-only").inner_text()
    page.click("summary:has-text('What the platform holds at GitHub')")
    assert "Full control of private repositories" in page.inner_text("#consent-scopes")
    check_page(page, "consent-screen-01-two-accounts")

    page.check("input[value='hubot/site']")
    assert "1 of 2 selected: hubot/site" in first.locator(".selection-summary").inner_text()

    # Choosing the other account shows its list at once, with no request to the server.
    page.evaluate("() => { window.__samePage = true; }")
    listed = len(lists)
    picker.locator(f"input[value='{octocat.pk}']").check()
    assert second.is_visible() and not first.is_visible()
    assert page.evaluate("() => window.__samePage === true") and len(lists) == listed
    page.check("input[value='octocat/notes']")
    page.check("input[value='octocat/spoon']")
    summary = second.locator(".selection-summary").inner_text()
    assert "2 of 3 selected: octocat/notes, octocat/spoon" in summary
    check_page(page, "consent-screen-02-other-account-selected")

    page.route(f"{REDIRECT}**", lambda route: route.fulfill(status=200, body="the app"))
    page.click("#approve")
    page.wait_for_url(f"{REDIRECT}**")
    grant = Grant.objects.get()
    assert grant.connections == {"github": octocat.pk}
    assert [r["id"] for r in grant.resources[GH_READ]] == ["octocat/notes", "octocat/spoon"]
    assert BACKGROUND not in grant.scopes
