"""The pages a person trusts, in real headless Chromium against a live server, at 375 px and
1280 px, each checked with axe-core (no serious or critical violation) and for sideways scroll:
Your access (grid, last use per cell, digest, past apps), its revoke and narrow pages, the
approvals page with "approve similar for 24 h", the profile (time zone detected by the browser)
and the connected services page. The broker is called over real HTTP with the app's token."""

import pytest
import requests

from audit.actions import Action, ActorType
from audit.models import AuditEvent
from audit.services import record_event
from consent import pending
from consent.models import Grant, PendingAction, StandingApproval
from tests.access.helpers import issue_token
from tests.access.test_dashboard import BACKGROUND, GH_READ, SL_READ, make_access
from tests.browser import check_page, shot
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
GH_WRITE = "services.github.repositories.write"


def _sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/accounts/login/")
    check_page(page, "access-00-sign-in")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    # Sign-in lands on Your access.
    page.wait_for_url(f"{live_server.url}/access/")


def _broker(live_server, path, token):
    return requests.get(
        f"{live_server.url}/api/v1/{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


@pytest.fixture
def person():
    return UserFactory(email="ada@example.com", name="Ada")


@pytest.fixture
def paris(browser):
    """A browser in Paris, to see the time zone detected on the first visit."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="Europe/Paris"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_your_access_grid_digest_and_time_zone(live_server, paris, person):
    page = paris
    _github, _slack, (grant,) = make_access(person)  # one background GitHub read
    record_event(
        Action.API_CALL,
        actor_type=ActorType.APP,
        grant=grant,
        service="slack",
        scope=SL_READ,
        resource="C0999ZZZ",
        outcome="denied",
        reason="This channel was not selected.",
        background=True,
    )
    for _ in range(4):  # polls: kept in the audit log, not shown
        record_event(
            Action.API_CALL,
            actor_type=ActorType.APP,
            grant=grant,
            metadata={"operation": "platform.action", "status": 200},
        )
    _sign_in(page, live_server, person)
    page.wait_for_selector("body[data-time-zone-saved='Europe/Paris']")
    person.refresh_from_db()
    assert person.time_zone == "Europe/Paris"
    page.reload()
    assert "Times are in Europe/Paris" in page.inner_text("main")

    cell = page.locator(f"td[data-cell='{grant.pk}-github']")
    assert "Read" in cell.locator(".badge.read").inner_text()
    assert "Background" in cell.inner_text()
    assert "octo/docs" in cell.inner_text() and "octo/site" in cell.inner_text()
    assert cell.locator(".cell-last-use").inner_text() != "never"
    assert page.locator(f"td[data-cell='{grant.pk}-slack'] .cell-last-use").inner_text() == "never"

    digest = page.locator("#digest")
    assert "1 call in the background" in digest.inner_text()
    assert "1 refused" in digest.inner_text()
    assert "This channel was not selected." in digest.inner_text()
    activity = page.locator("#activity").inner_text()
    assert "Today" in activity and "checked on an action" not in activity
    check_page(page, "access-01-your-access")

    # Per cell: consequences first, then the button; the rest keeps working.
    page.click(f"#revoke-{grant.pk}-slack > summary")
    assert page.is_visible(f"#revoke-{grant.pk}-slack .confirm-panel")
    check_page(page, "access-02-remove-cell-confirm")
    page.click(f"#revoke-{grant.pk}-slack-confirm")
    page.wait_for_url(f"{live_server.url}/access/")
    grant.refresh_from_db()
    assert SL_READ not in grant.scopes and GH_READ in grant.scopes
    assert page.locator(f"td[data-cell='{grant.pk}-slack'].cell-none").count() == 1


def test_revoke_app_moves_it_to_past_apps_and_its_token_is_refused(live_server, page, person):
    _github, _slack, (grant,) = make_access(person)
    token = issue_token(app=grant.app, user=person, scopes=grant.scopes)
    assert _broker(live_server, "me", token).status_code == 200

    _sign_in(page, live_server, person)
    page.click(f"tr.grant[data-grant='{grant.pk}'] >> text=Revoke app…")
    consequences = page.locator("ul.consequences").inner_text()
    assert "Acme Notes loses all access: GitHub, Slack" in consequences
    check_page(page, "access-03-revoke-confirm")
    page.click("button.destructive:has-text('Revoke access')")
    page.wait_for_url(f"{live_server.url}/access/")
    assert "Acme Notes no longer has access." in page.content()
    assert page.locator("tr.grant").count() == 0
    assert "Acme Notes" in page.locator("#past-apps").inner_text()
    assert "Revoked from Your access" in page.locator("#past-apps").inner_text()
    check_page(page, "access-04-after-revoke-past-apps")

    refused = _broker(live_server, "me", token)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "grant_revoked"
    assert Grant.objects.get(pk=grant.pk).revoked_at is not None
    assert AuditEvent.objects.filter(action=Action.GRANT_REVOKED, grant_id=grant.pk).exists()


def test_narrowing_a_grant_keeps_the_rest_working(live_server, page, person):
    _github, _slack, (grant,) = make_access(person)
    token = issue_token(app=grant.app, user=person, scopes=grant.scopes)
    _sign_in(page, live_server, person)
    page.click(f"tr.grant[data-grant='{grant.pk}'] >> text=Narrow…")
    page.check(f"input[name=remove_resources][value='{GH_READ}|octo/site']")
    page.check(f"input[name=remove_scopes][value='{BACKGROUND}']")
    check_page(page, "access-05-narrow")
    page.click("button:has-text('Remove the ticked items')")
    page.wait_for_url(f"{live_server.url}/access/")
    cell = page.locator(f"td[data-cell='{grant.pk}-github']").inner_text()
    assert "octo/docs" in cell and "octo/site" not in cell
    assert (
        "Session only"
        in page.locator(f"tr.grant[data-grant='{grant.pk}'] .background").inner_text()
    )

    assert _broker(live_server, "me", token).status_code == 200  # the rest works
    refused = _broker(live_server, "github/repos/octo/site", token)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "resource_not_granted"


def _hold(grant, title):
    return pending.create(
        grant=grant,
        operation="github.issues.create",
        service="github",
        scope=GH_WRITE,
        resource="octo/docs",
        summary="Open an issue: octo/docs",
        params={"owner": "octo", "repo": "docs"},
        body={"title": title, "body": "Found by the agent."},
        background=False,
        downstream={
            "method": "POST",
            "url": "https://api.github.com/repos/octo/docs/issues",
            "body": {"title": title, "body": "Found by the agent."},
        },
    )


def test_approvals_show_the_request_and_approve_similar_for_24_hours(live_server, page, person):
    _github, _slack, (grant,) = make_access(person)
    Grant.objects.filter(pk=grant.pk).update(scopes=[*grant.scopes, GH_WRITE])
    grant.refresh_from_db()
    first = _hold(grant, "First")
    _sign_in(page, live_server, person)
    page.goto(f"{live_server.url}/consent/approvals/")
    card = page.locator(f"#action-{first.pk}")
    assert card.locator(".request-method").inner_text() == "POST"
    assert (
        card.locator(".request-target").inner_text()
        == "https://api.github.com/repos/octo/docs/issues"
    )
    assert '"title": "First"' in card.locator(".request-body").inner_text()
    check_page(page, "access-06-approvals")
    card.locator("button[value=approve_similar]").click()
    page.wait_for_url(f"{live_server.url}/consent/approvals/")
    standing = StandingApproval.objects.get()
    assert page.locator(f"#standing-{standing.pk}").count() == 1

    # The second write of the same kind goes through without a new approval.
    second = _hold(grant, "Second")
    second.refresh_from_db()
    assert second.status != PendingAction.Status.CREATED
    assert second.standing_approval_id == standing.pk and second.decided_by is None
    page.goto(f"{live_server.url}/access/")
    shown = page.locator(f"tr.grant[data-grant='{grant.pk}'] #standing-{standing.pk}")
    assert "2 approved by it" in shown.inner_text()
    check_page(page, "access-07-standing-on-grant")

    # Ended early: the next one waits again.
    page.goto(f"{live_server.url}/consent/approvals/")
    page.click(f"#end-standing-{standing.pk} > summary")
    page.click(f"#end-standing-{standing.pk}-confirm")
    page.wait_for_url(f"{live_server.url}/consent/approvals/")
    assert StandingApproval.objects.get().ended_at is not None
    third = _hold(grant, "Third")
    third.refresh_from_db()
    assert third.status == PendingAction.Status.CREATED
    page.reload()
    assert page.locator(f"#action-{third.pk}").count() == 1
    check_page(page, "access-08-approvals-after-end")


def test_profile_and_connected_services_pages(live_server, page, person):
    make_access(person)
    _sign_in(page, live_server, person)
    page.goto(f"{live_server.url}/profile/")
    assert page.locator("#digest-email input[value=off]").is_checked()  # off by default
    check_page(page, "access-09-profile")
    page.check("#digest-email input[value=weekly]")
    page.click("button:has-text('Save settings')")
    person.refresh_from_db()
    assert person.digest_email == "weekly"
    page.goto(f"{live_server.url}/connections/")
    check_page(page, "access-10-connected-services")
    page.goto(f"{live_server.url}/")
    shot(page, "access-11-home")
