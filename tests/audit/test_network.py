"""Issue 12 item 2: the client address, in rate limits and audit alike, trusts X-Forwarded-For
only from TRUSTED_PROXIES."""

import pytest
from django.test import RequestFactory

from audit.network import client_address
from audit.services import record_event
from config.env import ConfigError, load

rf = RequestFactory()


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded", "expected"),
    [
        ((), "203.0.113.1", "192.0.2.1", "203.0.113.1"),  # nobody trusted: header ignored
        (("10.0.0.0/8",), "203.0.113.1", "192.0.2.1", "203.0.113.1"),  # not from the proxy
        (("10.0.0.0/8",), "10.0.0.5", "192.0.2.1", "192.0.2.1"),
        (("10.0.0.0/8",), "10.0.0.5", "6.6.6.6, 192.0.2.1", "192.0.2.1"),  # spoofed hop ignored
        (("10.0.0.0/8",), "10.0.0.5", "192.0.2.1, 10.0.0.9", "192.0.2.1"),  # two proxies
        (("10.0.0.0/8",), "10.0.0.5", "garbage", "10.0.0.5"),
        (("10.0.0.0/8",), "10.0.0.5", "", "10.0.0.5"),
        (("::1/128",), "::1", "[2001:db8::1]:443", "2001:db8::1"),
        ((), "::ffff:192.0.2.7", "", "192.0.2.7"),
    ],
)
def test_client_address(settings, trusted, remote, forwarded, expected):
    settings.TRUSTED_PROXIES = trusted
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


@pytest.mark.django_db
def test_audit_records_the_client_behind_the_proxy_and_not_a_forged_header(settings):
    settings.TRUSTED_PROXIES = ("10.0.0.0/8",)
    behind = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="192.0.2.44")
    forged = rf.get("/", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="192.0.2.44")
    assert record_event("app.updated", request=behind).source_ip == "192.0.2.44"
    assert record_event("app.updated", request=forged).source_ip == "203.0.113.5"


def test_trusted_proxies_setting_is_validated():
    base = {"DJANGO_DEBUG": "1"}
    assert load({**base, "TRUSTED_PROXIES": "10.0.0.0/8, ::1"}).trusted_proxies == (
        "10.0.0.0/8",
        "::1/128",
    )
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        load({**base, "TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"})
