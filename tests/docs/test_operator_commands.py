"""The operator guide's procedures, run as written: key rotation and backup/restore."""

from __future__ import annotations

import os
import re
import subprocess
from urllib.parse import urlsplit, urlunsplit

import pytest
from cryptography.fernet import Fernet

from tests.docs.test_guides import OPERATOR_GUIDE, shell_commands
from tests.journey.layout import (
    ROOT,
    free_port,
    manage,
    production_environment,
    recreate_postgres_database,
)


def documented(prefix: str) -> str:
    (command,) = [c for c in shell_commands(OPERATOR_GUIDE) if c.startswith(prefix)]
    return command


def shell(command: str, env: dict) -> subprocess.CompletedProcess:
    python = os.path.dirname(os.sys.executable)
    result = subprocess.run(
        command.replace("python ", f"{python}/python ", 1)
        if command.startswith("python ")
        else command,
        shell=True,
        cwd=env.get("_CWD", ROOT),
        env={k: v for k, v in env.items() if k != "_CWD"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


READ_TOKEN = (
    "from connections.models import Connection; c = Connection.objects.get(login='rotated'); "
    "print(c.access_token, c.refresh_token)"
)


def test_vault_reencrypt_after_adding_a_key(tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    env = production_environment(
        database_url=f"sqlite:///{tmp_path / 'vault.sqlite3'}", redis_url=None, port=free_port()
    )
    env["VAULT_KEYS"] = old
    manage(env, "migrate", "--no-input")
    manage(
        env,
        "shell",
        "-c",
        "from connections import vault; from tests.factories import ConnectionFactory; "
        "ConnectionFactory(login='rotated', access_token='gho_old_access', refresh_token='ghr_old_refresh', "
        "token_key_id=vault.current_key_id())",
    )
    # Step 1: the new key first, the old one still listed.
    env["VAULT_KEYS"] = f"{new},{old}"
    # Step 2: the documented command.
    out = shell(documented("python manage.py vault_reencrypt"), env).stdout
    assert "Re-encrypted 1 connection(s)" in out
    # Step 3: only the new key; the tokens still read back.
    env["VAULT_KEYS"] = new
    assert manage(env, "shell", "-c", READ_TOKEN).stdout.splitlines()[-1].split() == [
        "gho_old_access",
        "ghr_old_refresh",
    ]
    # And under the old key alone they are unreadable: nothing was left behind under it.
    env["VAULT_KEYS"] = old
    stale = subprocess.run(
        [os.sys.executable, "manage.py", "shell", "-c", READ_TOKEN],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "gho_old_access" not in stale.stdout


def _is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


@pytest.mark.postgres
@pytest.mark.skipif(not _is_postgres(), reason="pg_dump/pg_restore need PostgreSQL (DATABASE_URL)")
def test_backup_and_restore_round_trip(tmp_path):
    base = urlsplit(os.environ["DATABASE_URL"])
    name = base.path.lstrip("/") or "platform"
    source = urlunsplit(base._replace(path=f"/{name}_backup_src"))
    target = urlunsplit(base._replace(path=f"/{name}_backup_dst"))
    recreate_postgres_database(source)
    recreate_postgres_database(target)
    env = production_environment(database_url=source, redis_url=None, port=free_port())
    manage(env, "migrate", "--no-input")
    manage(
        env,
        "shell",
        "-c",
        "from connections import vault; from tests.factories import ConnectionFactory; "
        "ConnectionFactory(login='backed-up', access_token='gho_backup', token_key_id=vault.current_key_id())",
    )
    env = {**env, "RESTORE_DATABASE_URL": target, "_CWD": str(tmp_path)}
    shell(documented("pg_dump "), env)
    assert (tmp_path / "platform.dump").stat().st_size > 0
    shell(documented("pg_restore "), env)
    # The restored database serves the platform, tokens decrypt with the same VAULT_KEYS.
    restored = {**env, "DATABASE_URL": target}
    restored.pop("_CWD")
    out = manage(
        restored,
        "shell",
        "-c",
        "from connections.models import Connection; print(Connection.objects.get(login='backed-up').access_token)",
    ).stdout
    assert out.strip().splitlines()[-1] == "gho_backup"
    check = manage(restored, "migrate", "--check")
    assert re.search(r"error", check.stderr, flags=re.I) is None
