"""The token vault: the only module that touches ciphertext and keys.

Values are encrypted with ``cryptography``'s MultiFernet over ``settings.VAULT_KEYS``: the first key
encrypts, every key decrypts, so keys rotate by putting a new key first, running
``manage.py vault_reencrypt``, then dropping the old key. Each stored value is prefixed with the id
of the key that encrypted it (``k1:<fernet token>``), so rotation progress can be counted in SQL.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class VaultError(Exception):
    """A stored value cannot be decrypted with any configured key."""


def key_id(key: str) -> str:
    """A short, stable, non-secret name for a key (first 8 hex chars of its SHA-256)."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("VAULT_KEYS is empty: the token vault has no key.")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def current_key_id() -> str:
    return key_id(settings.VAULT_KEYS[0])


def encrypt(plaintext: str) -> str:
    token = _fernet(tuple(settings.VAULT_KEYS)).encrypt(plaintext.encode()).decode()
    return f"{current_key_id()}:{token}"


def decrypt(stored: str) -> str:
    _, _, token = stored.partition(":")
    try:
        return _fernet(tuple(settings.VAULT_KEYS)).decrypt(token.encode()).decode()
    except InvalidToken:
        raise VaultError("A stored token cannot be decrypted with any key in VAULT_KEYS.") from None


class EncryptedTextField(models.TextField):
    """A text column that holds only ciphertext. Only ``isnull`` lookups are allowed."""

    description = "Text encrypted with the token vault's keys"

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return decrypt(value)

    def to_python(self, value):
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt(str(value))

    def get_lookup(self, lookup_name):
        # Any other lookup would put the plaintext into the SQL text.
        if lookup_name != "isnull":
            raise NotImplementedError(f"Encrypted fields cannot be filtered with '{lookup_name}'.")
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name):
        raise NotImplementedError("Encrypted fields cannot be transformed in queries.")
