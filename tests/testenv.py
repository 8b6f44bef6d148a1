"""Loaded with ``-p tests.testenv`` before Django starts: the suite's environment defaults.

Tests run in debug-mode configuration (development defaults allowed) unless the caller set the
variables, as CI does for DATABASE_URL and REDIS_URL.
"""

import os

os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("LOG_JSON", "0")
# Browsers and live servers in tests talk to 127.0.0.1 without TLS.
os.environ.setdefault("HTTPS", "0")
# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# around it are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# Two generic OAuth 2.0 / OIDC providers added only as data (tests/providers_e2e/ run them
# against panva's oidc-provider over real HTTP).
os.environ.setdefault(
    "PROVIDERS_FILE", os.path.join(os.path.dirname(__file__), "data", "generic_providers.json")
)
