"""The outside services the platform talks to: its database, Redis and outgoing mail."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url

from config.parsing import ConfigError

BASE_DIR = Path(__file__).resolve().parent.parent


def parse_database_url(raw: str | None) -> tuple[str, dict]:
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
    if scheme != "sqlite":
        # Django's backend with a health check that needs no round trip (config/postgresql).
        config["ENGINE"] = "config.postgresql"
    else:
        config["CONN_MAX_AGE"] = 0
        config.pop("CONN_HEALTH_CHECKS", None)
        # Without a timeout SQLite answers "database is locked" as soon as a worker writes.
        # IMMEDIATE: a transaction takes the write lock when it begins, so two processes never
        # both read and then fail to upgrade to writing (SQLite answers that at once, whatever
        # the timeout). WAL: the web keeps reading while the worker writes.
        config["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL;",
        }
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


def parse_email_url(raw: str | None, *, debug: bool) -> dict[str, object]:
    """production (issue 8): EMAIL_URL, how mail leaves the platform, as Django EMAIL_* settings.

    ``smtp://user:password@host:25`` (plain), ``smtp+tls://...:587`` (STARTTLS),
    ``smtps://...:465`` (implicit TLS), or ``console://`` (print mails to the log). Default:
    ``console://`` in debug, ``smtp://localhost:25`` otherwise.
    """
    url = (raw or "").strip() or ("console://" if debug else "smtp://localhost:25")
    parts = urlsplit(url)
    if parts.scheme == "console":
        return {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if parts.scheme not in {"smtp", "smtp+tls", "smtps"} or not parts.hostname:
        raise ConfigError(
            "EMAIL_URL must look like smtp://user:password@host:25, smtp+tls://host:587, "
            f"smtps://host:465 or console://, not {url.split('@')[-1]!r}."
        )
    try:
        port = parts.port
    except ValueError:
        raise ConfigError("EMAIL_URL has an invalid port.") from None
    default_port = {"smtp": 25, "smtp+tls": 587, "smtps": 465}[parts.scheme]
    return {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "HOST": parts.hostname,
        "PORT": port or default_port,
        "HOST_USER": unquote(parts.username or ""),
        "HOST_PASSWORD": unquote(parts.password or ""),
        "USE_TLS": parts.scheme == "smtp+tls",
        "USE_SSL": parts.scheme == "smtps",
    }
