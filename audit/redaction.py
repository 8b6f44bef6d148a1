"""Keep secrets out of audit metadata, whatever a caller passes in."""

import re

_SECRET_KEYS = re.compile(
    r"token|secret|password|authorization|cookie|code_verifier|^code$|body", re.I
)


def redact(value):
    if isinstance(value, dict):
        return {
            key: ("[redacted]" if _SECRET_KEYS.search(str(key)) else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value
