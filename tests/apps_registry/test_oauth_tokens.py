"""apps_registry.oauth_tokens: token values, without HTTP (the code exchange's test checks the
token endpoint issues them)."""

from __future__ import annotations

import base64

from apps_registry.oauth_tokens import TOKEN_BYTES, random_token


def test_a_token_is_32_random_bytes_in_url_safe_base64():
    value = random_token(request=None)
    assert len(value) == 43 and "=" not in value
    assert len(base64.urlsafe_b64decode(value + "=")) == TOKEN_BYTES == 32


def test_tokens_do_not_repeat():
    values = {random_token(None) for _ in range(10_000)}
    refresh = {random_token(None, refresh_token=True) for _ in range(10_000)}
    assert len(values) == len(refresh) == 10_000 and not values & refresh
