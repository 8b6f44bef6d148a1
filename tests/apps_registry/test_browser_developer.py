"""The developer pages in real Chromium: register an app, see the secret once, add a loopback
redirect URI, rotate the secret."""

import pytest

from apps_registry.models import App
from tests.browser import check_page, shot
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_developer_registers_an_app_and_rotates_its_secret(live_server, page):
    developer = UserFactory(email="dev@example.com")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", developer.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/access/")
    page.goto(f"{live_server.url}/developer/apps/new/")
    page.fill("input[name=name]", "Acme Notes")
    page.fill("textarea[name=redirect_uris]", "https://notes.example.com/callback")
    page.select_option("select[name=scope__identity__profile__read]", "required")
    page.select_option("select[name=scope__services__github__repositories__read]", "optional")
    shot(page, "apps-01-register")
    page.click("button:has-text('Register')")
    secret = page.inner_text("code.secret")
    assert len(secret) >= 64
    assert "shown only once" in page.content()
    # The copy button appears (JavaScript) and the secret wraps inside its card.
    assert page.locator("button[data-copy=client-secret]").is_visible()
    check_page(page, "apps-02-secret-once")
    page.click("text=Go to the app's page")
    assert secret not in page.content()
    page.fill("input[name=uri]:not([type=hidden])", "http://127.0.0.1:8765/callback")
    page.click("button:has-text('Add')")
    assert "Redirect URI added." in page.content()
    assert "http://127.0.0.1:8765/callback" in page.content()
    check_page(page, "apps-03-detail")
    # Removing a redirect URI asks first; keeping it changes nothing.
    page.click("#remove-uri-1 > summary")
    assert page.is_visible("text=Sign-ins that come back to it will fail at once")
    page.click("#remove-uri-1 [data-close-confirm]")
    assert not page.is_visible("#remove-uri-1 .confirm-panel")
    # Rotating asks first, consequences before the button.
    page.click("summary:has-text('Rotate the client secret')")
    assert page.is_visible("text=The current one stops working when the grace period ends")
    check_page(page, "apps-04-rotate-confirm")
    page.click("#rotate-secret-confirm")
    new_secret = page.inner_text("code.secret")
    assert new_secret != secret
    app = App.objects.get()
    assert app.client.redirect_uris.split() == [
        "https://notes.example.com/callback",
        "http://127.0.0.1:8765/callback",
    ]
