"""A connection whose calls keep failing says so (issue 11): "Needs attention" and the reason on
the connections page and on Your access, instead of "Active"; a call that works clears it."""

import pytest

from connections.models import Connection

pytestmark = pytest.mark.django_db


def _pages(world):
    world.client.force_login(world.user)
    return (
        world.client.get("/connections/").content.decode(),
        world.client.get("/access/").content.decode(),
    )


def test_repeated_provider_failures_show_needs_attention_until_a_call_works(world, settings):
    settings.OUTBOUND_RETRIES = 0
    github = world.connections["github"]
    world.fake.fail_next = [(503, {}, b"{}")] * 2
    for _ in range(2):
        assert world.get("github/repos/octo/hello").status_code == 502
    row = Connection.objects.get(pk=github.pk)
    assert row.call_failures == 2 and not row.needs_attention  # two is not yet "repeatedly"
    assert all("Needs attention" not in page for page in _pages(world))

    world.fake.fail_next = [(503, {}, b"{}")]
    assert world.get("github/repos/octo/hello").status_code == 502
    row = Connection.objects.get(pk=github.pk)
    assert row.needs_attention and "503" in row.last_failure_reason
    for page in _pages(world):
        assert "Needs attention" in page and "503" in page

    # Refusals of the app's own request and rate limits are not the connection's failures.
    world.fake.fail_next = [(429, {"Retry-After": "5"}, b"{}")]
    assert world.get("github/repos/octo/hello").status_code == 429
    assert Connection.objects.get(pk=github.pk).call_failures == 3

    assert world.get("github/repos/octo/hello").status_code == 200
    row = Connection.objects.get(pk=github.pk)
    assert row.call_failures == 0 and not row.needs_attention
    assert all("Needs attention" not in page for page in _pages(world))


def test_timeouts_count_too(world, settings):
    settings.OUTBOUND_RETRIES = 0
    settings.PROVIDER_URLS = {"github": {"api": "http://127.0.0.1:9"}}  # nothing listens
    for _ in range(3):
        r = world.get("github/repos/octo/hello")
        assert r.status_code == 503 and r["Retry-After"]
    row = Connection.objects.get(pk=world.connections["github"].pk)
    assert row.needs_attention and row.display_status == "Needs attention"


def test_repeated_refresh_failures_show_needs_attention(world):
    github = world.connections["github"]
    Connection.objects.filter(pk=github.pk).update(
        refresh_failures=3,
        last_failure_reason="Refreshing the token failed: GitHub did not answer in time.",
    )
    for page in _pages(world):
        assert "Needs attention" in page and "GitHub did not answer in time" in page
