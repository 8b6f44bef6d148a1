import pytest

from tests.browser import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_person_signs_up_and_sees_profile(live_server, page):
    page.goto(f"{live_server.url}/accounts/signup/")
    shot(page, "identity-01-sign-up")
    page.fill("input[name=email]", "grace@example.com")
    page.fill("input[name=password1]", "a long safe passphrase 7")
    page.fill("input[name=password2]", "a long safe passphrase 7")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/access/")
    assert "grace@example.com" in page.content()
    shot(page, "identity-02-landed-on-your-access")
