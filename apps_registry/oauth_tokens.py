"""The values of the platform's access and refresh tokens.

oauthlib's default generator draws each of a token's 30 characters with its own
``SystemRandom().choice`` (a system call per character, about 180 bits in all): measured, more
CPU than any other single step of a client-credentials grant but the database's. Here a token
is 32 bytes from the operating system's CSPRNG in one call, URL-safe base64 (43 characters,
256 bits, within RFC 6750's ``b64token`` syntax). DOT stores only its checksum
(``COMPLIANT_BCP_RFC9700_TOKEN_STORAGE``), so the length of the value changes nothing stored.
"""

from __future__ import annotations

import secrets

TOKEN_BYTES = 32


def random_token(request, refresh_token: bool = False) -> str:
    """An access or refresh token value (DOT's ``ACCESS_TOKEN_GENERATOR`` and
    ``REFRESH_TOKEN_GENERATOR``; oauthlib passes the request, which it does not depend on)."""
    return secrets.token_urlsafe(TOKEN_BYTES)
