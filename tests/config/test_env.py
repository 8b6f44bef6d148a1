import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from config.env import BASE_DIR, ConfigError, load

PROD = {
    "DJANGO_SECRET_KEY": "x" * 50,
    "ALLOWED_HOSTS": "access.example.com",
    "VAULT_KEYS": Fernet.generate_key().decode(),
}


def test_debug_mode_runs_with_nothing_set():
    env = load({"DJANGO_DEBUG": "1"})
    assert env.debug
    assert env.database["ENGINE"] == "django.db.backends.sqlite3"
    assert env.redis_url is None
    assert len(env.vault_keys) == 1


def test_production_needs_a_secret_key():
    with pytest.raises(ConfigError, match="DJANGO_SECRET_KEY is not set"):
        load({k: v for k, v in PROD.items() if k != "DJANGO_SECRET_KEY"})


def test_production_needs_vault_keys():
    with pytest.raises(ConfigError, match="VAULT_KEYS is not set"):
        load({k: v for k, v in PROD.items() if k != "VAULT_KEYS"})


def test_production_needs_allowed_hosts():
    with pytest.raises(ConfigError, match="ALLOWED_HOSTS"):
        load({k: v for k, v in PROD.items() if k != "ALLOWED_HOSTS"})


def test_production_configuration_loads():
    env = load(
        {
            **PROD,
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/platform",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        }
    )
    assert not env.debug
    assert env.database["ENGINE"] == "config.postgresql"
    assert env.database["NAME"] == "platform"
    assert env.https


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_URL", "mysql://root@localhost/x", "DATABASE_URL must start with"),
        ("DATABASE_URL", "not a url", "DATABASE_URL must start with"),
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432", "names no database"),
        ("REDIS_URL", "http://localhost:6379", "REDIS_URL must look like"),
        ("REDIS_URL", "redis://localhost:port/0", "invalid port"),
        ("VAULT_KEYS", "not-a-key", "key #1 is not a valid Fernet key"),
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG must be true or false"),
        ("ACCESS_TOKEN_LIFETIME_SECONDS", "ten", "whole number"),
        ("GITHUB_API_URL", "ftp://example.com", "GITHUB_API_URL must be an http"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
    ],
)
def test_bad_values_are_named(name, value, message):
    with pytest.raises(ConfigError, match=message):
        load({**PROD, name: value})


def test_second_vault_key_is_validated_too():
    with pytest.raises(ConfigError, match="key #2"):
        load({**PROD, "VAULT_KEYS": PROD["VAULT_KEYS"] + ",short"})


def test_bad_configuration_stops_start_up_with_one_line():
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "mysql://nope", "DJANGO_DEBUG": "1"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Configuration error: DATABASE_URL must start with postgres:// (or postgresql://) or sqlite:///, not mysql://."
    ]
    assert "Traceback" not in result.stderr


def test_production_without_secret_refuses_to_run():
    env = {"PATH": "/usr/bin:/bin", "ALLOWED_HOSTS": "x", "VAULT_KEYS": PROD["VAULT_KEYS"]}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "DJANGO_SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


# --- connections: SANDBOX_BASE_URL ------------------------------------------------------------


def test_sandbox_base_url_defaults_and_parses():
    from config.env import load

    base = {"DJANGO_DEBUG": "1"}
    assert load(base).sandbox_base_url == "http://127.0.0.1:8000"
    assert (
        load({**base, "SANDBOX_BASE_URL": "http://localhost:9000/"}).sandbox_base_url
        == "http://localhost:9000"
    )


@pytest.mark.parametrize("raw", ["ftp://x", "localhost:8000", "http://x/sandbox"])
def test_sandbox_base_url_rejects_non_origins(raw):
    from config.env import ConfigError, load

    with pytest.raises(ConfigError, match="SANDBOX_BASE_URL"):
        load({"DJANGO_DEBUG": "1", "SANDBOX_BASE_URL": raw})


# --- apps_registry: OAuth endpoint rate limits and secret grace period ----------------------------
def test_oauth_rate_limits_have_defaults_and_can_be_set():
    env = load({"DJANGO_DEBUG": "1"})
    assert env.oauth_rate_limit_per_client == 120
    assert env.oauth_rate_limit_per_ip == 300
    assert env.oauth_rate_limit_window_seconds == 60
    env = load(
        {
            "DJANGO_DEBUG": "1",
            "OAUTH_RATE_LIMIT_PER_CLIENT": "0",
            "OAUTH_RATE_LIMIT_PER_IP": "10",
            "OAUTH_RATE_LIMIT_WINDOW_SECONDS": "5",
            "OAUTH_SECRET_GRACE_HOURS": "2",
        }
    )
    assert (env.oauth_rate_limit_per_client, env.oauth_rate_limit_per_ip) == (0, 10)
    assert env.oauth_rate_limit_window_seconds == 5
    assert env.oauth_secret_grace_hours == 2


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OAUTH_RATE_LIMIT_PER_CLIENT", "lots", "OAUTH_RATE_LIMIT_PER_CLIENT must be a whole"),
        ("OAUTH_RATE_LIMIT_PER_IP", "-1", "OAUTH_RATE_LIMIT_PER_IP must be at least 0"),
        ("OAUTH_RATE_LIMIT_WINDOW_SECONDS", "0", "OAUTH_RATE_LIMIT_WINDOW_SECONDS must be at"),
        ("OAUTH_SECRET_GRACE_HOURS", "x", "OAUTH_SECRET_GRACE_HOURS must be a whole"),
        ("DEMO_AGENT_CLIENT_SECRET", "short", "DEMO_AGENT_CLIENT_SECRET must be at least 32"),
    ],
)
def test_bad_oauth_rate_limits_are_named(name, value, message):
    with pytest.raises(ConfigError, match=message):
        load({**PROD, name: value})


# --- audit --------------------------------------------------------------------------------------


def test_audit_retention_defaults_to_keeping_everything():
    env = load(PROD)
    assert env.audit_retention_days == 0
    assert env.audit_archive_dir == str(BASE_DIR / "var" / "audit-archive")


def test_audit_retention_can_be_set():
    env = load({**PROD, "AUDIT_RETENTION_DAYS": "400", "AUDIT_ARCHIVE_DIR": "/srv/audit"})
    assert env.audit_retention_days == 400
    assert env.audit_archive_dir == "/srv/audit"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("AUDIT_RETENTION_DAYS", "a year", "AUDIT_RETENTION_DAYS must be a whole number"),
        ("AUDIT_RETENTION_DAYS", "-1", "AUDIT_RETENTION_DAYS must be at least 0"),
        ("AUDIT_ARCHIVE_DIR", "var/archive", "AUDIT_ARCHIVE_DIR must be an absolute path"),
    ],
)
def test_bad_audit_settings_are_named(name, value, message):
    with pytest.raises(ConfigError, match=message):
        load({**PROD, name: value})


# --- production (issue 8): e-mail ------------------------------------------------------------


def test_email_defaults_to_console_in_debug_and_local_smtp_in_production():
    assert load({"DJANGO_DEBUG": "1"}).email["BACKEND"].endswith("console.EmailBackend")
    prod = load(PROD).email
    assert prod["BACKEND"].endswith("smtp.EmailBackend")
    assert (prod["HOST"], prod["PORT"]) == ("localhost", 25)


def test_email_url_with_starttls_and_quoted_credentials():
    env = load(
        {
            **PROD,
            "EMAIL_URL": "smtp+tls://mailer%40example.com:p%40ss@smtp.example.com",
            "EMAIL_FROM": "Access <a@example.com>",
        }
    )
    assert env.email["HOST"] == "smtp.example.com"
    assert env.email["PORT"] == 587
    assert env.email["HOST_USER"] == "mailer@example.com"
    assert env.email["HOST_PASSWORD"] == "p@ss"
    assert env.email["USE_TLS"] and not env.email["USE_SSL"]
    assert env.email_from == "Access <a@example.com>"
    assert load({**PROD, "EMAIL_URL": "smtps://smtp.example.com"}).email["USE_SSL"]


@pytest.mark.parametrize("value", ["http://smtp.example.com", "smtp://", "smtp://host:port"])
def test_bad_email_url_is_named_without_leaking_the_password(value):
    with pytest.raises(ConfigError, match="EMAIL_URL") as error:
        load({**PROD, "EMAIL_URL": value.replace("//", "//user:hunter2@", 1)})
    assert "hunter2" not in str(error.value)


# --- broker: API rate limits ------------------------------------------------------------------


def test_broker_rate_limits_default_and_parse():
    env = load({"DJANGO_DEBUG": "1"})
    assert (env.broker_rate_limit_per_app, env.broker_rate_limit_per_grant) == (1200, 300)
    assert env.broker_rate_limit_window_seconds == 60
    env = load(
        {
            "DJANGO_DEBUG": "1",
            "BROKER_RATE_LIMIT_PER_APP": "0",
            "BROKER_RATE_LIMIT_PER_GRANT": "5",
            "BROKER_RATE_LIMIT_WINDOW_SECONDS": "10",
        }
    )
    assert (env.broker_rate_limit_per_app, env.broker_rate_limit_per_grant) == (0, 5)
    assert env.broker_rate_limit_window_seconds == 10


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BROKER_RATE_LIMIT_PER_APP", "many"),
        ("BROKER_RATE_LIMIT_PER_GRANT", "-1"),
        ("BROKER_RATE_LIMIT_WINDOW_SECONDS", "0"),
    ],
)
def test_broker_rate_limits_refuse_bad_values(name, value):
    with pytest.raises(ConfigError, match=name):
        load({"DJANGO_DEBUG": "1", name: value})
