"""The token vault: provider tokens at rest, sealed with the platform's keys.

Encryption itself is ``identity.crypto`` (MultiFernet over ``settings.VAULT_KEYS``, each value
prefixed with the id of the key that sealed it, so rotation progress can be counted in SQL); this
module is the column that holds only ciphertext and the error connections raises.
"""

from __future__ import annotations

from django.db import models

from identity import crypto
from identity.crypto import current_key_id, key_id

__all__ = ["EncryptedTextField", "VaultError", "current_key_id", "decrypt", "encrypt", "key_id"]


class VaultError(Exception):
    """A stored value cannot be decrypted with any configured key."""


def encrypt(plaintext: str) -> str:
    return crypto.seal(plaintext)


def decrypt(stored: str) -> str:
    try:
        return crypto.unseal(stored)
    except crypto.UnsealError:
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
