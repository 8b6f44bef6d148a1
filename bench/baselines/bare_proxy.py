"""The bare Django proxy: the floor a brokered call is measured against.

The least a Django service can do to proxy one provider read: check a bearer token (a constant,
no database), call the provider over the same kind of pooled ``requests`` session the broker
uses, and return its JSON. No database, no cache, no audit, one middleware. It runs under the
platform's own ``gunicorn.conf.py`` (same workers, threads and access log), so the difference
between it and the broker is the broker's own work, not the server's::

    DJANGO_SETTINGS_MODULE=bench.baselines.bare_proxy BARE_PROXY_UPSTREAM=http://127.0.0.1:9000 \\
    BARE_PROXY_TOKEN=... gunicorn -c gunicorn.conf.py 'django.core.wsgi:get_wsgi_application()'

``GET /api/v1/github/repos/<owner>/<repo>`` forwards to ``<upstream>/repos/<owner>/<repo>``.
"""

from __future__ import annotations

import hmac
import os

import requests
from django.http import HttpResponse, JsonResponse
from django.urls import path
from requests.adapters import HTTPAdapter

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "bare-proxy-benchmark-only")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]
ROOT_URLCONF = __name__
DATABASES: dict = {}
USE_TZ = True
LOGGING_CONFIG = None

UPSTREAM = os.environ.get("BARE_PROXY_UPSTREAM", "http://127.0.0.1:9000").rstrip("/")
TOKEN = os.environ.get("BARE_PROXY_TOKEN", "")
PROVIDER_TOKEN = os.environ.get("BARE_PROXY_PROVIDER_TOKEN", "bench-access-bare")

_session = requests.Session()
_session.trust_env = False
_adapter = HTTPAdapter(pool_connections=16, pool_maxsize=16, max_retries=0)
_session.mount("http://", _adapter)


def repo(request, owner: str, name: str):
    scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not TOKEN or not hmac.compare_digest(raw.strip(), TOKEN):
        return JsonResponse({"error": {"code": "invalid_token", "message": "no"}}, status=401)
    response = _session.get(
        f"{UPSTREAM}/repos/{owner}/{name}",
        headers={"Authorization": f"Bearer {PROVIDER_TOKEN}", "Accept": "application/json"},
        timeout=(3, 10),
    )
    if response.status_code != 200:
        return JsonResponse({"error": {"code": "upstream", "message": "upstream"}}, status=502)
    return HttpResponse(
        b'{"data":' + response.content + b"}", content_type="application/json", status=200
    )


urlpatterns = [path("api/v1/github/repos/<str:owner>/<str:name>", repo)]
