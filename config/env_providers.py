"""Where each provider lives and the platform's credentials with it (connections' settings).

Built-in providers and those declared as data (``PROVIDERS_FILE``) take the same variables:
``<PROVIDER>_<ENDPOINT>_URL`` and ``<PROVIDER>_CLIENT_ID`` / ``<PROVIDER>_CLIENT_SECRET``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from config.parsing import ConfigError

# Each provider's endpoints can be moved (GitHub Enterprise, or a local fake in tests) with
# <PROVIDER>_<ENDPOINT>_URL, e.g. GITHUB_API_URL=http://127.0.0.1:9000/api/v3.
PROVIDER_URL_KEYS = ("AUTHORIZE", "TOKEN", "REVOKE", "API")
PROVIDERS = ("GITHUB", "SLACK", "GOOGLE")


def parse_providers_file(raw: str | None) -> tuple:
    """connections: PROVIDERS_FILE, a JSON file with a list of generic provider declarations
    (docs/guide-operators.md, "Adding a provider"). Each entry's fields are checked again by
    connections.providers.generic and the start-up checks."""
    if not raw:
        return ()
    path = Path(raw)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"PROVIDERS_FILE {raw!r} cannot be read ({exc.strerror}).") from None
    except ValueError as exc:
        raise ConfigError(f"PROVIDERS_FILE {raw!r} is not valid JSON ({exc}).") from None
    entries = data.get("providers") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("id"), str) for e in entries
    ):
        raise ConfigError(
            f'PROVIDERS_FILE {raw!r} must be {{"providers": [{{"id": ..., ...}}, ...]}}.'
        )
    return tuple(entries)


def _generic_names(environ: Mapping[str, str]) -> tuple[str, ...]:
    generic = parse_providers_file(environ.get("PROVIDERS_FILE"))
    return tuple(str(e["id"]).upper() for e in generic)


def _provider_names(environ: Mapping[str, str]) -> tuple[str, ...]:
    return PROVIDERS + _generic_names(environ)


def parse_provider_urls(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    generic = _generic_names(environ)
    for provider in _provider_names(environ):
        # A data-declared provider may also move its discovery issuer (X_ISSUER_URL).
        for key in PROVIDER_URL_KEYS + (("ISSUER",) if provider in generic else ()):
            name = f"{provider}_{key}_URL"
            raw = environ.get(name)
            if not raw:
                continue
            parts = urlsplit(raw)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ConfigError(f"{name} must be an http(s) URL, not {raw!r}.")
            result.setdefault(provider.lower(), {})[key.lower()] = raw.rstrip("/")
    return result


def parse_provider_credentials(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    for provider in _provider_names(environ):
        client_id = environ.get(f"{provider}_CLIENT_ID", "").strip()
        secret = environ.get(f"{provider}_CLIENT_SECRET", "").strip()
        if bool(client_id) != bool(secret):
            raise ConfigError(
                f"{provider}_CLIENT_ID and {provider}_CLIENT_SECRET must be set together."
            )
        if client_id:
            result[provider.lower()] = {"client_id": client_id, "secret": secret}
    return result


def parse_sandbox_base_url(raw: str | None) -> str:
    """connections: SANDBOX_BASE_URL, the origin the sandbox provider is served from."""
    if raw is None or raw.strip() == "":
        return "http://127.0.0.1:8000"
    parts = urlsplit(raw.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path not in {"", "/"}:
        raise ConfigError(
            f"SANDBOX_BASE_URL must be an http(s) origin like http://127.0.0.1:8000, not {raw!r}."
        )
    return raw.strip().rstrip("/")
