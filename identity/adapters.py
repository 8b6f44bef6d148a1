from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter

from identity import secrets


class AccountAdapter(DefaultAccountAdapter):
    """Hook for sign-in events; the audit layer records them through allauth's signals."""


class MFAAdapter(DefaultMFAAdapter):
    """TOTP secrets and recovery seeds are stored encrypted with the vault's keys (issue 12)."""

    def encrypt(self, text: str) -> str:
        return secrets.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return secrets.decrypt(encrypted_text)
