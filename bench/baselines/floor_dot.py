"""Stock django-oauth-toolkit plus the waits the platform's token endpoint cannot do without.

The token endpoint's budget compares the platform with stock DOT (``stock_dot.py``), which counts
no rate limit and records no event. The platform must do both: its rate limits are one Redis
round trip before authentication (the caller's address) and one after (the client), and every
token issued is an audit event made durable before the answer. This is stock DOT with exactly
that much I/O added by one middleware, each step the cheapest way (an ``INCR`` each, one plain
``INSERT`` in autocommit: no hash chain, no lock), so the harness can show how much of the
platform's cost is that floor and how much its own work. The harness creates the event table
(``floor_proxy.SCHEMA``) in stock DOT's database::

    DJANGO_SETTINGS_MODULE=bench.baselines.floor_dot STOCK_DOT_DATABASE_URL=postgres://... \\
    REDIS_URL=redis://... gunicorn -c gunicorn.conf.py 'django.core.wsgi:get_wsgi_application()'
"""

from __future__ import annotations

import hashlib
import os

import redis
from django.db import connection

from bench.baselines.stock_dot import *  # noqa: F403 - the same DOT, settings and URLs
from bench.baselines.stock_dot import MIDDLEWARE as STOCK_MIDDLEWARE

MIDDLEWARE = [*STOCK_MIDDLEWARE, "bench.baselines.floor_dot.FloorMiddleware"]

_redis = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
_EVENT_SQL = "INSERT INTO bench_floor_event (person_id, operation, status) VALUES (0, %s, %s)"


class FloorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        _redis.incr(f"floor-dot:address:{request.META.get('REMOTE_ADDR', '')}")
        response = self.get_response(request)
        if response.status_code == 200:
            client = request.META.get("HTTP_AUTHORIZATION", "").encode()
            _redis.incr(f"floor-dot:client:{hashlib.sha256(client).hexdigest()[:16]}")
            with connection.cursor() as cursor:
                cursor.execute(_EVENT_SQL, ["token.issued", response.status_code])
        return response
