"""The platform's configuration, read from the environment once and validated.

Every setting the platform takes from the outside world is parsed into a frozen :class:`Env` by
:func:`load`: the value parsers are in ``config.parsing``, the outside services' URLs in
``config.env_services``, the providers' in ``config.env_providers``, the secrets and the
security-related values here. ``config.settings`` calls :func:`load` exactly once; nothing else
reads ``os.environ``. A bad value raises :class:`ConfigError` whose message is one human
sentence; ``manage.py``, ``wsgi.py`` and the Celery app print it and exit instead of showing a
traceback.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from config.env_providers import (
    parse_provider_credentials,
    parse_provider_urls,
    parse_providers_file,
    parse_sandbox_base_url,
)
from config.env_services import BASE_DIR, parse_database_url, parse_email_url, parse_redis_url
from config.parsing import ConfigError, parse_bool, parse_int, parse_list, parse_seconds

__all__ = ["BASE_DIR", "ConfigError", "Env", "load", "load_or_exit"]

# Only for DEBUG: a fixed, public key so a fresh checkout runs with no set-up. It protects nothing,
# which is why production refuses to start without VAULT_KEYS.
DEV_VAULT_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"dev-only-vault-key").digest()).decode()
DEV_SECRET_KEY = "dev-only-insecure-secret-key-never-use-in-production"


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
    # connections: generic OAuth 2.0 / OIDC providers declared as data (PROVIDERS_FILE).
    generic_providers: tuple = ()
    sandbox_enabled: bool = False
    # connections: where the platform reaches its own sandbox provider (over real HTTP).
    sandbox_base_url: str = "http://127.0.0.1:8000"
    log_json: bool = False
    log_level: str = "INFO"
    # apps_registry: rate limits on the token, revocation and introspection endpoints, as
    # requests per window per client and per IP (0 turns a limit off).
    oauth_rate_limit_per_client: int = 120
    oauth_rate_limit_per_ip: int = 300
    oauth_rate_limit_window_seconds: int = 60
    # apps_registry: failed client authentications per window per (client address, client id);
    # counted apart from the client's own budget so that guessing cannot lock the real app out.
    oauth_rate_limit_failed_auth: int = 20
    oauth_secret_grace_hours: int = 24
    # apps_registry: clients that register themselves (MCP clients): RFC 7591 dynamic registration
    # (loopback redirect URIs only unless allowed, per-IP hourly limit) and client ID metadata
    # documents (an https URL as client_id; optionally only from these hosts).
    oauth_dcr_enabled: bool = True
    oauth_dcr_allow_non_loopback: bool = False
    oauth_dcr_rate_limit_per_hour: int = 20
    oauth_cimd_enabled: bool = True
    oauth_cimd_allowed_hosts: tuple[str, ...] = ()
    # Proxies whose X-Forwarded-For is believed (IP addresses or networks); rate limits and audit
    # take the client address from it only when the request comes from one of these.
    trusted_proxies: tuple[str, ...] = ()
    # The demo app's client secret (apps_registry.demo); empty: generated and printed once.
    demo_agent_client_secret: str = ""
    # audit: events older than this many days are archived to JSON lines, then removed, by the
    # daily beat task (0 = keep everything in the database); archives go to audit_archive_dir.
    audit_retention_days: int = 0
    audit_archive_dir: str = ""
    # audit: the HMAC key of the event chain and of signed checkpoints, kept outside the database.
    audit_chain_key: str = ""
    # broker: API rate limits, requests per window per app and per grant (0 turns a limit off).
    broker_rate_limit_per_app: int = 1200
    broker_rate_limit_per_grant: int = 300
    broker_rate_limit_window_seconds: int = 60
    # run (issue 11): the overall deadline of one brokered call (every attempt and refresh inside
    # it), well under gunicorn's 30 s timeout, and the share of the web's threads one provider
    # may hold at once; lifetimes and refresh timing (short values make a long run short).
    broker_call_deadline_seconds: float = 8.0
    broker_provider_concurrency: int = 2
    sandbox_token_lifetime_seconds: int = 600
    connection_refresh_margin_seconds: int = 300
    connection_refresh_sweep_seconds: int = 60
    connection_refresh_sweep_threads: int = 16
    connection_refresh_sweep_processes: int = 2
    # production (issue 8): outgoing e-mail (sign-up verification, password reset).
    email: Mapping[str, object] = field(default_factory=dict)
    email_from: str = "Agent Access Platform <no-reply@localhost>"


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


def parse_audit_archive_dir(raw: str | None) -> str:
    """audit: where the retention task writes archives; default var/audit-archive."""
    if raw is None or raw.strip() == "":
        return str(BASE_DIR / "var" / "audit-archive")
    path = Path(raw.strip())
    if not path.is_absolute():
        raise ConfigError(f"AUDIT_ARCHIVE_DIR must be an absolute path, not {raw!r}.")
    return str(path)


def parse_trusted_proxies(raw: str | None) -> tuple[str, ...]:
    """TRUSTED_PROXIES: comma-separated IP addresses or networks (``10.0.0.0/8``, ``::1``)."""
    networks = []
    for item in parse_list(raw):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfigError(
                f"TRUSTED_PROXIES must list IP addresses or networks (e.g. 10.0.0.0/8), "
                f"not {item!r}."
            ) from None
    return tuple(networks)


def parse_audit_chain_key(raw: str | None, *, secret_key: str, debug: bool) -> str:
    """AUDIT_CHAIN_KEY: 32+ characters. Without it a key is derived from DJANGO_SECRET_KEY
    (still outside the database, but rotating the secret key then breaks verification)."""
    key = (raw or "").strip()
    if key:
        if len(key) < 32:
            raise ConfigError(
                "AUDIT_CHAIN_KEY must be at least 32 characters (a long random value)."
            )
        return key
    return hashlib.sha256(b"audit-chain|" + secret_key.encode()).hexdigest()


def parse_demo_secret(raw: str | None) -> str:
    secret = (raw or "").strip()
    if secret and len(secret) < 32:
        raise ConfigError(
            "DEMO_AGENT_CLIENT_SECRET must be at least 32 characters (a long random value)."
        )
    return secret


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
        generic_providers=parse_providers_file(environ.get("PROVIDERS_FILE")),
        # Off in production unless asked for: the sandbox's demo accounts are public.
        sandbox_enabled=parse_bool(
            "SANDBOX_ENABLED", environ.get("SANDBOX_ENABLED"), default=debug
        ),
        sandbox_base_url=parse_sandbox_base_url(environ.get("SANDBOX_BASE_URL")),
        log_json=parse_bool("LOG_JSON", environ.get("LOG_JSON"), default=not debug),
        log_level=log_level,
        # apps_registry
        oauth_rate_limit_per_client=parse_int(
            "OAUTH_RATE_LIMIT_PER_CLIENT",
            environ.get("OAUTH_RATE_LIMIT_PER_CLIENT"),
            120,
            minimum=0,
        ),
        oauth_rate_limit_per_ip=parse_int(
            "OAUTH_RATE_LIMIT_PER_IP", environ.get("OAUTH_RATE_LIMIT_PER_IP"), 300, minimum=0
        ),
        oauth_rate_limit_window_seconds=parse_int(
            "OAUTH_RATE_LIMIT_WINDOW_SECONDS", environ.get("OAUTH_RATE_LIMIT_WINDOW_SECONDS"), 60
        ),
        oauth_rate_limit_failed_auth=parse_int(
            "OAUTH_RATE_LIMIT_FAILED_AUTH",
            environ.get("OAUTH_RATE_LIMIT_FAILED_AUTH"),
            20,
            minimum=0,
        ),
        trusted_proxies=parse_trusted_proxies(environ.get("TRUSTED_PROXIES")),
        oauth_secret_grace_hours=parse_int(
            "OAUTH_SECRET_GRACE_HOURS", environ.get("OAUTH_SECRET_GRACE_HOURS"), 24, minimum=0
        ),
        oauth_dcr_enabled=parse_bool(
            "OAUTH_DCR_ENABLED", environ.get("OAUTH_DCR_ENABLED"), default=True
        ),
        oauth_dcr_allow_non_loopback=parse_bool(
            "OAUTH_DCR_ALLOW_NON_LOOPBACK", environ.get("OAUTH_DCR_ALLOW_NON_LOOPBACK"), False
        ),
        oauth_dcr_rate_limit_per_hour=parse_int(
            "OAUTH_DCR_RATE_LIMIT_PER_HOUR",
            environ.get("OAUTH_DCR_RATE_LIMIT_PER_HOUR"),
            20,
            minimum=0,
        ),
        oauth_cimd_enabled=parse_bool(
            "OAUTH_CIMD_ENABLED", environ.get("OAUTH_CIMD_ENABLED"), default=True
        ),
        oauth_cimd_allowed_hosts=parse_list(environ.get("OAUTH_CIMD_ALLOWED_HOSTS")),
        demo_agent_client_secret=parse_demo_secret(environ.get("DEMO_AGENT_CLIENT_SECRET")),
        # audit
        audit_retention_days=parse_int(
            "AUDIT_RETENTION_DAYS", environ.get("AUDIT_RETENTION_DAYS"), 0, minimum=0
        ),
        audit_archive_dir=parse_audit_archive_dir(environ.get("AUDIT_ARCHIVE_DIR")),
        audit_chain_key=parse_audit_chain_key(
            environ.get("AUDIT_CHAIN_KEY"), secret_key=secret_key, debug=debug
        ),
        # broker
        broker_rate_limit_per_app=parse_int(
            "BROKER_RATE_LIMIT_PER_APP", environ.get("BROKER_RATE_LIMIT_PER_APP"), 1200, minimum=0
        ),
        broker_rate_limit_per_grant=parse_int(
            "BROKER_RATE_LIMIT_PER_GRANT",
            environ.get("BROKER_RATE_LIMIT_PER_GRANT"),
            300,
            minimum=0,
        ),
        broker_rate_limit_window_seconds=parse_int(
            "BROKER_RATE_LIMIT_WINDOW_SECONDS", environ.get("BROKER_RATE_LIMIT_WINDOW_SECONDS"), 60
        ),
        # run (issue 11)
        broker_call_deadline_seconds=parse_seconds(
            "BROKER_CALL_DEADLINE_SECONDS", environ.get("BROKER_CALL_DEADLINE_SECONDS"), 8.0
        ),
        broker_provider_concurrency=parse_int(
            "BROKER_PROVIDER_CONCURRENCY", environ.get("BROKER_PROVIDER_CONCURRENCY"), 2
        ),
        sandbox_token_lifetime_seconds=parse_int(
            "SANDBOX_TOKEN_LIFETIME_SECONDS", environ.get("SANDBOX_TOKEN_LIFETIME_SECONDS"), 600
        ),
        connection_refresh_margin_seconds=parse_int(
            "CONNECTION_REFRESH_MARGIN_SECONDS",
            environ.get("CONNECTION_REFRESH_MARGIN_SECONDS"),
            300,
            minimum=0,
        ),
        connection_refresh_sweep_seconds=parse_int(
            "CONNECTION_REFRESH_SWEEP_SECONDS", environ.get("CONNECTION_REFRESH_SWEEP_SECONDS"), 60
        ),
        connection_refresh_sweep_threads=parse_int(
            "CONNECTION_REFRESH_SWEEP_THREADS", environ.get("CONNECTION_REFRESH_SWEEP_THREADS"), 16
        ),
        connection_refresh_sweep_processes=parse_int(
            "CONNECTION_REFRESH_SWEEP_PROCESSES",
            environ.get("CONNECTION_REFRESH_SWEEP_PROCESSES"),
            2,
        ),
        # production (issue 8)
        email=parse_email_url(environ.get("EMAIL_URL"), debug=debug),
        email_from=(environ.get("EMAIL_FROM") or "").strip()
        or "Agent Access Platform <no-reply@localhost>",
    )


def load_or_exit(environ: Mapping[str, str]) -> Env:
    """Entry points use this: a bad configuration ends the process with one line."""
    try:
        return load(environ)
    except ConfigError as exc:
        sys.stderr.write(f"Configuration error: {exc}\n")
        raise SystemExit(2) from None
