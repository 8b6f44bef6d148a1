"""Stock django-oauth-toolkit: the token endpoint baseline.

django-oauth-toolkit as its documentation sets it up (its own models, its default validator,
``oauth2_provider.urls`` at ``/o/``), on PostgreSQL with the same connection settings as the
platform, with one change: client secrets hashed by a fast hash (the platform's own
``client_secret_hmac_sha256``) instead of PBKDF2 with a million rounds, so that the comparison is
about everything except the hash. Served by the platform's ``gunicorn.conf.py``::

    DJANGO_SETTINGS_MODULE=bench.baselines.stock_dot STOCK_DOT_DATABASE_URL=postgres://... \\
        gunicorn -c gunicorn.conf.py 'django.core.wsgi:get_wsgi_application()'
"""

from __future__ import annotations

import os

import dj_database_url

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "stock-dot-benchmark-only")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "oauth2_provider",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "bench.baselines.stock_dot_urls"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("STOCK_DOT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stock_dot"),
        conn_max_age=60,
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
LOGGING_CONFIG = None
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "apps_registry.hashers.ClientSecretHasher",
]
OAUTH2_PROVIDER = {"CLIENT_SECRET_HASHER": "client_secret_hmac_sha256"}
