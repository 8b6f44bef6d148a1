"""The platform's configuration, read from the environment once and validated.

Every setting the platform takes from the outside world is parsed here, in one place, into a
frozen :class:`Env`. ``config.settings`` calls :func:`load` exactly once; nothing else reads
``os.environ``. A bad value raises :class:`ConfigError` whose message is one human sentence;
``manage.py``, ``wsgi.py`` and the Celery app print it and exit instead of showing a traceback.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}

# Only for DEBUG: a fixed, public key so a fresh checkout runs with no set-up. It protects nothing,
# which is why production refuses to start without VAULT_KEYS.
DEV_VAULT_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"dev-only-vault-key").digest()).decode()
DEV_SECRET_KEY = "dev-only-insecure-secret-key-never-use-in-production"


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Env:
    debug: bool
    secret_key: str
    allowed_hosts: tuple[str, ...]
    database: dict
    database_url: str
    redis_url: str | None
    vault_keys: tuple[str, ...]
    access_token_lifetime_seconds: int
    session_grant_minutes: int
    https: bool
    provider_urls: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    provider_credentials: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    sandbox_enabled: bool = True
    log_json: bool = False
    log_level: str = "INFO"


def parse_bool(name: str, raw: str | None, default: bool) -> bool:
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be true or false (1/0, yes/no, on/off), not {raw!r}.")


def parse_int(name: str, raw: str | None, default: int, *, minimum: int = 1) -> int:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}.")
    return value


def parse_list(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def parse_database_url(raw: str | None) -> tuple[str, dict]:
    import dj_database_url

    url = raw.strip() if raw else f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"
    scheme = urlsplit(url).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
        raise ConfigError(
            "DATABASE_URL must start with postgres:// (or postgresql://) or sqlite:///, "
            f"not {scheme + '://' if scheme else repr(url)}."
        )
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"DATABASE_URL is malformed: {exc}.") from None
    if scheme != "sqlite" and not config.get("NAME"):
        raise ConfigError(
            "DATABASE_URL names no database (expected postgres://user@host:5432/NAME)."
        )
    if scheme == "sqlite":
        config["CONN_MAX_AGE"] = 0
        config.pop("CONN_HEALTH_CHECKS", None)
        # Without a timeout SQLite answers "database is locked" as soon as a worker writes.
        config["OPTIONS"] = {"timeout": 20}
    return url, config


def parse_redis_url(raw: str | None) -> str | None:
    if raw is None or raw.strip() == "":
        return None
    parts = urlsplit(raw.strip())
    if parts.scheme not in {"redis", "rediss"} or not parts.hostname:
        raise ConfigError(f"REDIS_URL must look like redis://host:6379/0, not {raw!r}.")
    try:
        parts.port  # noqa: B018 - raises ValueError for a non-numeric port
    except ValueError:
        raise ConfigError(f"REDIS_URL has an invalid port: {raw!r}.") from None
    return raw.strip()


def parse_vault_keys(raw: str | None) -> tuple[str, ...]:
    keys = parse_list(raw)
    for position, key in enumerate(keys, start=1):
        try:
            decoded = base64.urlsafe_b64decode(key.encode())
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) != 32:
            raise ConfigError(
                f"VAULT_KEYS key #{position} is not a valid Fernet key (32 url-safe base64-encoded "
                'bytes). Generate one with: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"'
            )
    return keys


# Each provider's endpoints can be moved (GitHub Enterprise, or a local fake in tests) with
# <PROVIDER>_<ENDPOINT>_URL, e.g. GITHUB_API_URL=http://127.0.0.1:9000/api/v3.
PROVIDER_URL_KEYS = ("AUTHORIZE", "TOKEN", "REVOKE", "API")
PROVIDERS = ("GITHUB", "SLACK", "GOOGLE")


def parse_provider_urls(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    for provider in PROVIDERS:
        for key in PROVIDER_URL_KEYS:
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
    for provider in PROVIDERS:
        client_id = environ.get(f"{provider}_CLIENT_ID", "").strip()
        secret = environ.get(f"{provider}_CLIENT_SECRET", "").strip()
        if bool(client_id) != bool(secret):
            raise ConfigError(
                f"{provider}_CLIENT_ID and {provider}_CLIENT_SECRET must be set together."
            )
        if client_id:
            result[provider.lower()] = {"client_id": client_id, "secret": secret}
    return result


def load(environ: Mapping[str, str]) -> Env:
    """Parse and validate the environment; raise ConfigError with one clear sentence."""
    debug = parse_bool("DJANGO_DEBUG", environ.get("DJANGO_DEBUG"), default=False)

    secret_key = environ.get("DJANGO_SECRET_KEY", "").strip()
    if not secret_key:
        if not debug:
            raise ConfigError(
                "DJANGO_SECRET_KEY is not set. Production (DJANGO_DEBUG off) refuses to start "
                "without it; set a long random value, or set DJANGO_DEBUG=1 for development."
            )
        secret_key = DEV_SECRET_KEY
    elif not debug and len(secret_key) < 32:
        raise ConfigError(
            "DJANGO_SECRET_KEY is too short for production: use 50+ random characters."
        )

    allowed_hosts = parse_list(environ.get("ALLOWED_HOSTS"))
    if not allowed_hosts:
        if not debug:
            raise ConfigError(
                "ALLOWED_HOSTS is not set. In production list the host names this platform "
                "answers to, comma-separated (e.g. access.example.com)."
            )
        allowed_hosts = ("localhost", "127.0.0.1", "[::1]", "testserver")

    database_url, database = parse_database_url(environ.get("DATABASE_URL"))
    redis_url = parse_redis_url(environ.get("REDIS_URL"))

    vault_keys = parse_vault_keys(environ.get("VAULT_KEYS"))
    if not vault_keys:
        if not debug:
            raise ConfigError(
                "VAULT_KEYS is not set. Production refuses to start without a key to encrypt "
                'provider tokens; generate one with: python -c "from cryptography.fernet import '
                'Fernet; print(Fernet.generate_key().decode())"'
            )
        vault_keys = (DEV_VAULT_KEY,)

    log_level = environ.get("LOG_LEVEL", "INFO").strip().upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(
            f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {log_level!r}."
        )

    return Env(
        debug=debug,
        secret_key=secret_key,
        allowed_hosts=allowed_hosts,
        database=database,
        database_url=database_url,
        redis_url=redis_url,
        vault_keys=vault_keys,
        access_token_lifetime_seconds=parse_int(
            "ACCESS_TOKEN_LIFETIME_SECONDS", environ.get("ACCESS_TOKEN_LIFETIME_SECONDS"), 600
        ),
        session_grant_minutes=parse_int(
            "SESSION_GRANT_MINUTES", environ.get("SESSION_GRANT_MINUTES"), 60
        ),
        https=parse_bool("HTTPS", environ.get("HTTPS"), default=not debug),
        provider_urls=parse_provider_urls(environ),
        provider_credentials=parse_provider_credentials(environ),
        sandbox_enabled=parse_bool("SANDBOX_ENABLED", environ.get("SANDBOX_ENABLED"), default=True),
        log_json=parse_bool("LOG_JSON", environ.get("LOG_JSON"), default=not debug),
        log_level=log_level,
    )


def load_or_exit(environ: Mapping[str, str]) -> Env:
    """Entry points use this: a bad configuration ends the process with one line."""
    import sys

    try:
        return load(environ)
    except ConfigError as exc:
        sys.stderr.write(f"Configuration error: {exc}\n")
        raise SystemExit(2) from None
