import pytest

from apps_registry.ratelimit import FixedWindowLimiter
from tests.apps_registry.helpers import PROFILE, TOKEN_URL, basic, register


@pytest.fixture(autouse=True)
def _fresh_counters(monkeypatch):
    """Counters live in the cache (Redis in CI) beyond one run: give each test its own keys."""
    import uuid

    from apps_registry import oauth_views

    monkeypatch.setattr(oauth_views.limiter, "prefix", f"test-rl-{uuid.uuid4().hex}")


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def test_fixed_window_counts_and_resets():
    import uuid

    limiter = FixedWindowLimiter(prefix=f"test-rl-unit-{uuid.uuid4().hex}")
    clock = Clock(1_000_040.5)
    limiter.timer = clock
    assert all(limiter.hit("k", limit=3, window=60).allowed for _ in range(3))
    verdict = limiter.hit("k", limit=3, window=60)
    assert not verdict.allowed
    assert verdict.retry_after == 40  # the window [1_000_020, 1_000_080) has 39.5 s left
    assert limiter.hit("other", limit=3, window=60).allowed
    clock.now += 40
    assert limiter.hit("k", limit=3, window=60).allowed
    assert limiter.hit("k", limit=0, window=60).allowed  # 0 = no limit


def test_several_keys_are_counted_together_and_each_has_its_verdict():
    import uuid

    limiter = FixedWindowLimiter(prefix=f"test-rl-unit-{uuid.uuid4().hex}")
    limiter.timer = Clock(1_000_040.5)
    both = (("app", 3), ("grant", 1), ("none", 0))
    assert [v.allowed for v in limiter.hit_all(both, window=60)] == [True, True, True]
    app, grant, none = limiter.hit_all(both, window=60)
    assert app.allowed and none.allowed
    assert not grant.allowed and grant.retry_after == 40
    # A refused request still counted against every key (a fixed window counts attempts).
    assert not limiter.check("app", limit=2, window=60).allowed


def test_checks_read_a_count_without_adding_to_it():
    import uuid

    limiter = FixedWindowLimiter(prefix=f"test-rl-unit-{uuid.uuid4().hex}")
    limiter.timer = Clock(1_000_040.5)
    limiter.hit("failed", limit=5, window=60)
    limiter.hit("failed", limit=5, window=60)
    ip, failed, unseen, off = limiter.hit_all(
        (("ip", 1),), window=60, checks=(("failed", 2), ("unseen", 1), ("failed", 0))
    )
    assert ip.allowed and unseen.allowed and off.allowed
    assert not failed.allowed and failed.retry_after == 40  # 2 failures of 2: refused
    assert not limiter.hit_all((("ip", 1),), window=60, checks=(("failed", 3),))[0].allowed
    assert limiter.check("failed", limit=3, window=60).allowed  # checks never counted
    assert limiter.hit_all((), window=60, checks=(("x", 0),)) == [
        limiter.check("x", limit=0, window=60)
    ]


@pytest.mark.django_db
def test_token_endpoint_answers_429_per_client(client, settings):
    settings.OAUTH_RATE_LIMIT_PER_CLIENT = 2
    settings.OAUTH_RATE_LIMIT_WINDOW_SECONDS = 3600
    app, secret = register()
    other, other_secret = register(name="Other")
    data = {"grant_type": "client_credentials", "scope": PROFILE}
    auth = basic(app.client.client_id, secret)
    assert client.post(TOKEN_URL, data, HTTP_AUTHORIZATION=auth).status_code == 200
    assert client.post(TOKEN_URL, data, HTTP_AUTHORIZATION=auth).status_code == 200
    response = client.post(TOKEN_URL, data, HTTP_AUTHORIZATION=auth)
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"] == "temporarily_unavailable"
    # Another client from the same address is not affected.
    other_auth = basic(other.client.client_id, other_secret)
    assert client.post(TOKEN_URL, data, HTTP_AUTHORIZATION=other_auth).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("url", [TOKEN_URL, "/oauth/revoke_token/", "/oauth/introspect/"])
def test_endpoints_answer_429_per_ip(client, settings, url):
    settings.OAUTH_RATE_LIMIT_PER_IP = 1
    settings.OAUTH_RATE_LIMIT_WINDOW_SECONDS = 3600
    ip = "203.0.113.9"
    client.post(url, {}, REMOTE_ADDR=ip)
    response = client.post(url, {}, REMOTE_ADDR=ip)
    assert response.status_code == 429
    assert "Retry-After" in response
    assert client.post(url, {}, REMOTE_ADDR="198.51.100.7").status_code != 429
