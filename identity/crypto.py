"""The platform's one encryption primitive: Fernet over ``settings.VAULT_KEYS``.

The first key encrypts, every key decrypts, so keys rotate by putting a new key first,
re-encrypting (``manage.py vault_reencrypt``), then dropping the old key. A sealed value is
``<key id>:<Fernet token>``; the key id (8 hex characters of the key's SHA-256, not secret) lets
rotation progress be counted in SQL.

It lives in identity, the bottom layer, because two layers seal with it: identity's MFA secrets
(``identity.secrets``) and connections' provider tokens (``connections.vault``).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class UnsealError(ValueError):
    """No configured key decrypts the value."""


def key_id(key: str) -> str:
    """A short, stable, non-secret name for a key (first 8 hex chars of its SHA-256)."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def current_key_id() -> str:
    return key_id(settings.VAULT_KEYS[0])


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("VAULT_KEYS is empty: the token vault has no key.")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def seal(plaintext: str) -> str:
    token = _fernet(tuple(settings.VAULT_KEYS)).encrypt(plaintext.encode()).decode()
    return f"{current_key_id()}:{token}"


def unseal(sealed: str) -> str:
    _, _, token = sealed.partition(":")
    try:
        return _fernet(tuple(settings.VAULT_KEYS)).decrypt(token.encode()).decode()
    except InvalidToken:
        raise UnsealError("no key in VAULT_KEYS decrypts this value") from None


def sealed_with_current_key(sealed: str) -> bool:
    return sealed.startswith(f"{current_key_id()}:")
