"""Secrets out of the logs (issue 12, item 9), on the handler, so every logger at every level
goes through it.

- A logged request (``django.request`` puts it in ``record.request``; a JSON formatter would print
  ``<WSGIRequest: GET '/accounts/github/login/callback/?code=...'>``) becomes method and path,
  without the query string.
- Query strings in messages are dropped: a callback URL carries the provider's ``code``.
- Token-looking values in any message (oauthlib and django-oauth-toolkit log the grants and
  tokens they handle at DEBUG) are replaced, whatever the level.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_SECRET_NAMES = (
    r"access_token|refresh_token|id_token|token|code|client_secret|code_verifier|password|"
    r"secret|state|assertion|client_assertion"
)
# 'code': 'abc'   "access_token": "abc"   refresh_token=abc   code: abc
_SECRET_PAIRS = re.compile(
    rf"(?P<key>(?P<q>['\"]?)\b(?:{_SECRET_NAMES})(?P=q)\s*[:=]\s*)(?P<v>['\"]?)[^\s'\",&}}]+(?P=v)",
    re.I,
)
_BEARER = re.compile(r"(?<=\b[Bb]earer\s)[^\s,;\"']+|(?<=\b[Bb]asic\s)[A-Za-z0-9+/=]{8,}")
# A path or URL followed by a query string: keep the path.
_QUERY = re.compile(r"(?P<path>(?:https?://[^\s/?#'\"]+)?/[^\s?#'\"]*)\?[^\s#'\"]*")


def scrub(text: str) -> str:
    text = _QUERY.sub(lambda m: m.group("path") + "?" + REDACTED, text)
    text = _SECRET_PAIRS.sub(
        lambda m: m.group("key") + m.group("v") + REDACTED + m.group("v"), text
    )
    return _BEARER.sub(REDACTED, text)


class SecretsLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "path"):
            record.request = f"{getattr(request, 'method', '')} {request.path}"
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the formatter to report
            return True
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            # Tracebacks can quote URLs and reprs too: format once, scrubbed.
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        return True
