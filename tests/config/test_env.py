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
    assert env.database["ENGINE"] == "django.db.backends.postgresql"
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
