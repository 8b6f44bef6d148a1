#!/usr/bin/env bash
# `make prod`: the production layout (gunicorn + Celery worker + Celery beat, Procfile) on this
# machine against PostgreSQL and Redis. Migrates, collects static files (hashed names, served by
# whitenoise), then starts the three processes with honcho. Ctrl-C stops them gracefully.
#
# Defaults are for a local try-out; a real deployment sets every variable itself
# (docs/guide-operators.md) and runs each Procfile line as its own service.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
export PATH="$PWD/$BIN:$PATH"

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/platform}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export PORT="${PORT:-8080}"
export ALLOWED_HOSTS="${ALLOWED_HOSTS:-127.0.0.1,localhost}"
# Locally there is no TLS proxy in front; behind one, set HTTPS=1 (secure cookies, HSTS, redirect).
export HTTPS="${HTTPS:-0}"
# No mail server locally: verification mails go to the web process's log.
export EMAIL_URL="${EMAIL_URL:-console://}"
# A local try-out runs on the sandbox providers (off by default in production).
export SANDBOX_ENABLED="${SANDBOX_ENABLED:-1}"

# A local run needs a secret key and a vault key that survive restarts (tokens encrypted under a
# lost key are lost). Generate them once into var/prod.env (mode 600); never do this in production.
if [[ -z "${DJANGO_SECRET_KEY:-}" || -z "${VAULT_KEYS:-}" ]]; then
  mkdir -p var
  if [[ ! -f var/prod.env ]]; then
    umask 077
    python - > var/prod.env <<'PY'
import secrets
from cryptography.fernet import Fernet
print(f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}")
print(f"VAULT_KEYS={Fernet.generate_key().decode()}")
PY
    echo "prod: generated local keys in var/prod.env (for this machine only)" >&2
  fi
  set -a; source var/prod.env; set +a
fi

# Create the database on first use (a managed PostgreSQL usually has it already).
python - <<'PY'
import os
import dj_database_url
import psycopg
from psycopg import sql
cfg = dj_database_url.parse(os.environ["DATABASE_URL"])
if cfg["ENGINE"].endswith("postgresql"):
    params = dict(host=cfg["HOST"] or None, port=cfg["PORT"] or None, user=cfg["USER"] or None,
                  password=cfg["PASSWORD"] or None)
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))
PY
python manage.py migrate --no-input
python manage.py collectstatic --no-input --verbosity 0
if [[ "${SEED_DEMO:-1}" == "1" ]]; then
  python manage.py seed_demo --allow-production
fi
echo "prod: http://127.0.0.1:${PORT}/ (web, worker, beat from Procfile)" >&2
exec honcho start -f Procfile -p "$PORT"
