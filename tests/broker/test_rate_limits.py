"""Provider rate limits are rate limits: GitHub's 403 answers for its primary and secondary limits
become ``429 upstream_rate_limited`` with ``Retry-After``, over real HTTP to the fake provider."""

import time

import pytest

from connections.outbound import rate_limit_wait

pytestmark = pytest.mark.django_db


def err(r):
    return r.json()["error"]["code"]


def test_primary_rate_limit_waits_until_the_reset(world):
    reset = int(time.time()) + 120
    world.fake.fail_next = [
        (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
         b'{"message": "API rate limit exceeded for user ID 1."}'),
    ]  # fmt: skip
    r = world.get("github/repos/octo/hello")
    assert r.status_code == 429 and err(r) == "upstream_rate_limited"
    assert 100 <= int(r["Retry-After"]) <= 122
    assert world.fake.refreshes == 0  # a rate limit is not a token problem


def test_secondary_rate_limit_with_retry_after(world):
    world.fake.fail_next = [
        (403, {"Retry-After": "30"},
         b'{"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}'),
    ]  # fmt: skip
    r = world.get("github/repos/octo/hello")
    assert r.status_code == 429 and err(r) == "upstream_rate_limited"
    assert r["Retry-After"] == "30"


def test_secondary_rate_limit_named_only_in_the_message(world):
    world.fake.fail_next = [
        (403, {}, b'{"message": "You have exceeded a secondary rate limit."}'),
    ]
    r = world.get("github/repos/octo/hello")
    assert r.status_code == 429 and err(r) == "upstream_rate_limited"
    assert r["Retry-After"] == "60"


def test_a_403_that_is_not_a_rate_limit_stays_an_upstream_error(world):
    world.fake.fail_next = [
        (403, {"X-RateLimit-Remaining": "4999"}, b'{"message": "Resource not accessible"}'),
    ]
    r = world.get("github/repos/octo/hello")
    assert r.status_code == 502 and err(r) == "upstream_error"


@pytest.mark.parametrize(
    "status,headers,body,wait",
    [
        (429, {}, b"", 60),
        (429, {"retry-after": "7"}, b"", 7),
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1000"}, b"", 1),
        (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1300"}, b"", 301),
        (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "soon"}, b"", 60),
        (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "99999999"}, b"", 3600),
        (403, {}, b"Forbidden", None),
        (404, {"Retry-After": "5"}, b"", None),
    ],
)
def test_rate_limit_wait(status, headers, body, wait):
    assert rate_limit_wait(status, headers, body, now=1000.0) == wait
