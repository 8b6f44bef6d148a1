"""Every failure gets the platform's own answer (issue 11): the API's JSON shape under /api/v1/
(debug mode too), error pages in the site's style, and a clear page for /admin/ to non-staff."""

import logging

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import path

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def boom(request):
    raise RuntimeError("a bug in a page")


def forbidden(request):
    raise PermissionDenied


urlpatterns = [path("boom/", boom), path("forbidden/", forbidden)]


@pytest.fixture
def api_bug(monkeypatch):
    from broker import services

    def broken(*, request):
        raise RuntimeError("a bug deep in the broker")

    monkeypatch.setattr(services, "me", broken)


@pytest.mark.parametrize("debug", [True, False])
def test_unexpected_exception_under_the_api_is_json_internal_error(
    client, settings, api_bug, caplog, debug
):
    settings.DEBUG = debug
    client.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="django.request"):
        r = client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer whatever")
    assert r.status_code == 500
    assert r["Content-Type"].startswith("application/json")
    error = r.json()["error"]
    assert error["code"] == "internal_error" and error["message"]
    assert error["request_id"] == r["X-Request-ID"]
    assert "a bug deep in the broker" not in r.content.decode()  # nothing internal leaks
    # Logged server-side with its traceback.
    logged = [rec for rec in caplog.records if rec.exc_info]
    assert logged and "a bug deep in the broker" in str(logged[0].exc_info[1])


@pytest.mark.parametrize("debug", [True, False])
def test_unknown_api_address_is_json_not_found(client, settings, debug):
    settings.DEBUG = debug
    for address in ("/api/v1/no/such/thing", "/api/v1/github/repos/a/b/c/d/e"):
        r = client.get(address)
        assert r.status_code == 404 and r["Content-Type"].startswith("application/json")
        assert r.json()["error"]["code"] == "not_found"
        assert r.json()["error"]["request_id"] == r["X-Request-ID"]


def test_broker_refusals_carry_the_request_id(client):
    r = client.get("/api/v1/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"
    assert r.json()["error"]["request_id"] == r["X-Request-ID"]


def _looks_like_the_site(r, heading):
    html = r.content.decode()
    assert r["Content-Type"].startswith("text/html")
    assert "platform/platform.css" in html and 'class="topbar"' in html  # the site's layout
    assert heading in html
    assert 'class="button" href="/' in html  # a way back
    return html


@pytest.fixture
def pages(settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = "tests.config.urls_with_errors"


def test_404_page(client, pages):
    r = client.get("/no/such/page/")
    assert r.status_code == 404
    _looks_like_the_site(r, "This page does not exist")


def test_500_page(client, pages):
    client.raise_request_exception = False
    r = client.get("/boom/")
    assert r.status_code == 500
    html = _looks_like_the_site(r, "Something went wrong on our side")
    assert r["X-Request-ID"] in html and "a bug in a page" not in html


def test_403_page(client, pages):
    r = client.get("/forbidden/")
    assert r.status_code == 403
    _looks_like_the_site(r, "You cannot open this page")


def test_400_page(client, pages):
    r = client.get("/", HTTP_HOST="not-an-allowed-host.example")
    assert r.status_code == 400
    _looks_like_the_site(r, "That request could not be understood")


def test_signed_in_page_offers_the_way_back_to_your_access(client, pages):
    client.force_login(UserFactory())
    r = client.get("/no/such/page/")
    assert 'href="/access/"' in r.content.decode() and "Back to Your access" in r.content.decode()


def test_admin_for_a_signed_in_person_who_is_not_staff(client):
    person = UserFactory(email="someone@example.com")
    client.force_login(person)
    r = client.get("/admin/", follow=True)
    # One redirect (the admin's own, to its login), then a clear page; no loop.
    assert len(r.redirect_chain) == 1
    assert r.status_code == 403
    html = r.content.decode()
    assert "The administration is for staff only" in html and "someone@example.com" in html
    assert 'href="/access/"' in html


def test_admin_for_someone_signed_out_still_goes_to_sign_in(client):
    r = client.get("/admin/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]
    r = client.get(r["Location"])
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
