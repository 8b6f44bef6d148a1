"""Keep secrets out of audit events, whatever a caller passes in.

Two nets: keys that name a secret (``access_token``, ``client_secret``, ``body``...) have their
value replaced whatever it is; and any string anywhere in an event (metadata values, the reason,
the resource) has token-shaped substrings masked: provider tokens (GitHub ``ghp_``/``gho_``...,
Slack ``xox?-``, Google ``ya29.``), JWTs, ``Bearer ...`` credentials and ``token=``/``secret=``
query parameters. Callers must still never pass tokens, secrets or bodies; this is the safety net.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"

_SECRET_KEYS = re.compile(
    r"token|secret|password|passwd|authorization|cookie|api[_-]?key|private[_-]?key|"
    r"credential|code_verifier|^code$|body|payload|content",
    re.I,
)

_SECRET_VALUES = re.compile(
    r"""
    \b(?:gh[pousr]_|github_pat_)[A-Za-z0-9_]{16,}        # GitHub tokens
    | \bxox[abposr]-[A-Za-z0-9-]{8,}                     # Slack tokens
    | \bya29\.[A-Za-z0-9._-]{8,}                         # Google access tokens
    | \b1//[A-Za-z0-9._-]{16,}                           # Google refresh tokens
    | \beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*   # JWTs
    | (?<=\b[Bb]earer\s)[^\s,;"']+                       # Authorization: Bearer <x>
    | (?<=\b[Bb]asic\s)[A-Za-z0-9+/=]{8,}                # Authorization: Basic <x>
    """,
    re.X,
)
# ``?access_token=...``, ``&client_secret=...``, ``refresh_token: ...`` inside free text.
_SECRET_PARAMS = re.compile(
    r"(?P<key>\b[\w-]*(?:token|secret|password|code_verifier|api[_-]?key)[\w-]*\b"
    r"[\"']?\s*[=:]\s*[\"']?)(?P<value>[^\s&,;\"'}]+)",
    re.I,
)


def redact_text(text: str) -> str:
    """Mask token-shaped substrings in free text (a reason, a resource, a metadata value)."""
    if not text:
        return text
    text = _SECRET_PARAMS.sub(lambda m: m.group("key") + REDACTED, text)
    return _SECRET_VALUES.sub(REDACTED, text)


def redact(value):
    """Return a copy of ``value`` (JSON-like data) with secrets removed."""
    if isinstance(value, dict):
        return {
            str(key): (REDACTED if _SECRET_KEYS.search(str(key)) else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        # Raw bytes are bodies in all but name.
        return REDACTED
    return value
