"""Races on the token endpoint (PostgreSQL): one code, many exchanges; one refresh token, many
refreshes. Exactly one wins; the rest are refused, and for a code the replay revokes the winner's
tokens too (RFC 6749 4.1.2)."""

from django.test import Client
from oauth2_provider.models import AccessToken, RefreshToken

from tests.apps_registry.helpers import TOKEN_URL, basic, exchange, get_code, register
from tests.concurrency import race
from tests.factories import UserFactory
from tests.markers import postgresql_only

pytestmark = postgresql_only("row locks under real concurrency")

THREADS = 8


def _race(target):
    results, errors = race(target, THREADS)
    assert not errors, errors
    return results


def test_one_code_exchanged_concurrently_issues_at_most_once_and_revokes_on_replay():
    app, secret = register()
    code, verifier = get_code(Client(), app, UserFactory())

    def attempt():
        response = exchange(Client(), app, secret, code, verifier)
        return response.status_code, response.json().get("error")

    results = _race(attempt)
    wins = [r for r in results if r[0] == 200]
    assert len(wins) <= 1
    assert all(r == (400, "invalid_grant") for r in results if r[0] != 200)
    # The code was replayed: whatever it issued is revoked.
    assert not AccessToken.objects.exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()


def test_one_refresh_token_used_concurrently_rotates_once():
    app, secret = register()
    code, verifier = get_code(Client(), app, UserFactory())
    tokens = exchange(Client(), app, secret, code, verifier).json()

    def attempt():
        response = Client().post(
            TOKEN_URL,
            {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            HTTP_AUTHORIZATION=basic(app.client.client_id, secret),
        )
        return response.status_code

    results = _race(attempt)
    assert results.count(200) <= 1
    assert set(results) <= {200, 400}
    assert RefreshToken.objects.filter(revoked__isnull=True).count() <= 1
