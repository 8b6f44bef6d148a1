"""MFA secrets at rest (issue 12, item 5): TOTP keys and recovery-code seeds are encrypted with
the token vault's keys (``VAULT_KEYS``, the first encrypts, all decrypt), through allauth's MFA
adapter hooks (``identity.adapters.MFAAdapter``).

Sealed by ``identity.crypto``, the same primitive as the provider tokens' vault, behind an
``mfa:`` marker. A value without the marker is refused, never used as a plaintext secret: the data
migration encrypted every row that existed before.
"""

from __future__ import annotations

from identity import crypto
from identity.crypto import key_id

__all__ = ["PREFIX", "SecretError", "decrypt", "encrypt", "encrypt_authenticator_data", "key_id"]

PREFIX = "mfa:"


class SecretError(ValueError):
    """A stored MFA secret is not encrypted, or no configured key decrypts it."""


def is_encrypted(value) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def encrypt(plaintext: str) -> str:
    return PREFIX + crypto.seal(plaintext)


def decrypt(stored: str) -> str:
    if not is_encrypted(stored):
        raise SecretError("An MFA secret is stored unencrypted; run the identity migrations.")
    try:
        return crypto.unseal(stored[len(PREFIX) :])
    except crypto.UnsealError:
        raise SecretError("An MFA secret cannot be decrypted with any key in VAULT_KEYS.") from None


def needs_reencryption(stored) -> bool:
    return is_encrypted(stored) and not crypto.sealed_with_current_key(stored[len(PREFIX) :])


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
