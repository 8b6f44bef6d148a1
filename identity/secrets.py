"""MFA secrets at rest (issue 12, item 5): TOTP keys and recovery-code seeds are encrypted with
the token vault's keys (``VAULT_KEYS``, the first encrypts, all decrypt), through allauth's MFA
adapter hooks (``identity.adapters.MFAAdapter``).

Same keys and the same format as ``connections/vault.py`` (``<key id>:<Fernet token>``) behind an
``mfa:`` marker; it is a separate module only because identity is the bottom layer and may not
import connections. A value without the marker is refused, never used as a plaintext secret:
the data migration encrypted every row that existed before.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

PREFIX = "mfa:"


class SecretError(ValueError):
    """A stored MFA secret is not encrypted, or no configured key decrypts it."""


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:8]


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def is_encrypted(value) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def encrypt(plaintext: str) -> str:
    keys = tuple(settings.VAULT_KEYS)
    token = _fernet(keys).encrypt(plaintext.encode()).decode()
    return f"{PREFIX}{key_id(keys[0])}:{token}"


def decrypt(stored: str) -> str:
    if not is_encrypted(stored):
        raise SecretError("An MFA secret is stored unencrypted; run the identity migrations.")
    _, _, token = stored[len(PREFIX) :].partition(":")
    try:
        return _fernet(tuple(settings.VAULT_KEYS)).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretError("An MFA secret cannot be decrypted with any key in VAULT_KEYS.") from None


def needs_reencryption(stored) -> bool:
    return is_encrypted(stored) and not stored.startswith(
        f"{PREFIX}{key_id(settings.VAULT_KEYS[0])}:"
    )


def encrypt_authenticator_data(kind: str, data: dict, *, reencrypt: bool = False) -> dict:
    """``data`` of an allauth Authenticator with every secret encrypted (under the newest key
    when ``reencrypt``). Used by the data migration and by ``vault_reencrypt``."""

    def seal(value):
        if not isinstance(value, str):
            return value
        if is_encrypted(value):
            return encrypt(decrypt(value)) if reencrypt and needs_reencryption(value) else value
        return encrypt(value)

    data = dict(data)
    if kind == "totp" and "secret" in data:
        data["secret"] = seal(data["secret"])
    if kind == "recovery_codes":
        if "seed" in data:
            data["seed"] = seal(data["seed"])
        if data.get("migrated_codes") is not None:
            data["migrated_codes"] = [seal(code) for code in data["migrated_codes"]]
    return data
