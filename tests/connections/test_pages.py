"""Upgrade, disconnect and the Connected services page, over real HTTP against the sandbox."""

import re

import pytest

from audit.actions import Action
from audit.models import AuditEvent
from connections.models import Connection
from connections.sandbox.models import SandboxToken, digest
from tests.connections.conftest import query_of
from tests.factories import AppFactory, GrantFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_upgrade_adds_scopes_to_the_same_connection_and_returns(browser_for):
    user = UserFactory()
    browser = browser_for(user)
    browser.connect(scopes="read:user", account="583231")
    connection = Connection.objects.get(user=user)
    assert connection.scopes == ["read:user"]
    page = browser.get(
        f"/connections/{connection.pk}/upgrade/?scopes=repo&next=/consent/somewhere/"
    )
    assert page.status_code == 200 and "repo" in page.text
    to_provider = browser.submit(page)
    params = query_of(to_provider.headers["Location"])
    assert set(params["scope"].split()) == {"read:user", "repo"}  # the full set
    assert params["login_hint"] == "octocat"
    authorize = browser.get(to_provider.headers["Location"])
    added = re.search(r'<ul class="scopes-added">(.*?)</ul>', authorize.text, re.S).group(1)
    already = re.search(r'<ul class="scopes-already">(.*?)</ul>', authorize.text, re.S).group(1)
    assert "repo" in added and "read:user" not in added  # the provider page shows only the delta
    assert "read:user" in already
    back = browser.submit(authorize, {"decision": "approve", "account": "583231"})
    final = browser.get(back.headers["Location"])
    assert final.status_code == 302 and final.headers["Location"] == "/consent/somewhere/"
    assert Connection.objects.filter(user=user).count() == 1
    upgraded = Connection.objects.get(user=user)
    assert upgraded.pk == connection.pk and set(upgraded.scopes) == {"read:user", "repo"}
    assert AuditEvent.objects.filter(action=Action.CONNECTION_UPGRADED).count() == 1


def test_upgrade_with_another_account_changes_nothing(browser_for):
    user = UserFactory()
    browser = browser_for(user)
    browser.connect(scopes="read:user", account="583231")
    connection = Connection.objects.get(user=user)
    page = browser.get(f"/connections/{connection.pk}/upgrade/?scopes=repo")
    authorize = browser.get(browser.submit(page).headers["Location"])
    back = browser.submit(authorize, {"decision": "approve", "account": "480938"})
    final = browser.get(back.headers["Location"])
    assert final.status_code == 400 and "different" in final.text
    assert list(Connection.objects.filter(user=user).values_list("login", "scopes")) == [
        ("octocat", ["read:user"])
    ]


def test_reconnect_after_needs_reauth_reactivates(browser_for):
    user = UserFactory()
    browser = browser_for(user)
    browser.connect(account="583231")
    connection = Connection.objects.get(user=user)
    Connection.objects.filter(pk=connection.pk).update(
        status="needs_reauth", status_reason="Refresh refused"
    )
    page = browser.get(f"/connections/{connection.pk}/upgrade/")
    assert "Reconnect" in page.text
    authorize = browser.get(browser.submit(page).headers["Location"])
    browser.follow(browser.submit(authorize, {"decision": "approve", "account": "583231"}))
    connection.refresh_from_db()
    assert connection.status == "active" and connection.status_reason == ""


def test_other_peoples_connections_are_not_reachable(browser_for, make_connection):
    theirs = make_connection()
    browser = browser_for(UserFactory())
    assert browser.get(f"/connections/{theirs.pk}/upgrade/").status_code == 404
    assert browser.get(f"/connections/{theirs.pk}/disconnect/").status_code == 404
    page = browser.get("/connections/")
    assert theirs.login not in page.text


def test_disconnect_page_states_consequences_then_revokes(browser_for, make_connection):
    user = UserFactory()
    connection = make_connection(user=user)
    app = AppFactory(name="Repo Summariser")
    GrantFactory(user=user, app=app, connections={"github": connection.pk})
    browser = browser_for(user)
    listing = browser.get("/connections/")
    assert "octocat" in listing.text and "repo" in listing.text and "Sandbox" in listing.text
    assert connection.access_token not in listing.text
    confirm = browser.get(f"/connections/{connection.pk}/disconnect/")
    assert "Repo Summariser" in confirm.text and "loses access" in confirm.text
    access = connection.access_token
    done = browser.submit(confirm)
    assert done.status_code == 302
    assert Connection.objects.get(pk=connection.pk).status == "revoked"
    assert SandboxToken.objects.get(token_digest=digest(access)).revoked_at is not None


def test_disconnect_needs_post_with_csrf(browser_for, make_connection):
    user = UserFactory()
    connection = make_connection(user=user)
    browser = browser_for(user)
    confirm = browser.get(f"/connections/{connection.pk}/disconnect/")
    forged = browser.submit(confirm, drop=("csrfmiddlewaretoken",))
    assert forged.status_code == 403
    assert Connection.objects.get(pk=connection.pk).status == "active"
