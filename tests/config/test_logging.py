"""Issue 12 item 9: no query string, token or secret in a log line, at any level."""

import logging

import pytest
from django.test import RequestFactory

from config.logfilters import SecretsLogFilter, scrub


def emit(logger_name, level, msg, *args, **extra):
    """Run a record through the platform's console handler filters and formatter."""
    from logging import getLogger

    handler = next(h for h in getLogger().handlers if any(
        isinstance(f, SecretsLogFilter) for f in h.filters))  # fmt: skip
    record = getLogger(logger_name).makeRecord(
        logger_name, level, __file__, 1, msg, args, None, extra=extra
    )
    for f in handler.filters:
        f.filter(record)
    return handler.format(record)


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR])
def test_oauthlib_token_lines_are_redacted_at_every_level(level):
    token = {"access_token": "plat-AT-1234567890", "refresh_token": "plat-RT-0987654321",
             "token_type": "Bearer", "expires_in": 600}  # fmt: skip
    line = emit("oauthlib.oauth2.rfc6749.grant_types.base", level, "Issuing token %r", token)
    assert "plat-AT-1234567890" not in line and "plat-RT-0987654321" not in line
    line = emit(
        "oauth2_provider.oauth2_validators", level, "Saving grant %r", {"code": "c0dE42xyz"}
    )
    assert "c0dE42xyz" not in line


def test_a_logged_request_loses_its_query_string():
    request = RequestFactory().get(
        "/accounts/github/login/callback/?code=gho_callback_code&state=s"
    )
    line = emit("django.request", logging.ERROR, "Internal Server Error: %s", request.path,
                request=request, status_code=500)  # fmt: skip
    assert "gho_callback_code" not in line
    assert "/accounts/github/login/callback/" in line


def test_query_strings_and_bearer_tokens_in_free_text():
    text = scrub('"GET /cb/?code=abc123&state=q HTTP/1.1" Authorization: Bearer plat-xyz')
    assert "abc123" not in text and "plat-xyz" not in text and "/cb/" in text
    assert scrub("nothing secret here: 3 of 4") == "nothing secret here: 3 of 4"
