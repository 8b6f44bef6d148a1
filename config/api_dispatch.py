"""The broker API's own, short middleware chain.

A call to ``/api/v1/`` is an app with a bearer token: it never has a session, a CSRF cookie, a
signed-in person, flash messages, allauth's state or a time zone, yet the site's ``MIDDLEWARE``
(15 of them) cost a brokered call about a tenth of its CPU. :class:`ApiDispatchMiddleware` is the
first entry of ``MIDDLEWARE``; it sends every ``/api/v1/`` request through ``API_MIDDLEWARE``
instead: the request id, the API's error shape, the outbound budget and the same security
headers the site sends (``SecurityMiddleware``, ``CommonMiddleware``, ``X-Frame-Options``, CSP).
Because it is a middleware, Django's test client, gunicorn and the tests all take this path.

The chain is a Django handler of its own (:class:`ApiHandler`), so resolving, the views'
middleware hooks, template responses and exceptions follow Django's own ``_get_response``; only
the list differs. The outer handler still sends ``request_started``/``request_finished`` and
logs error responses, once.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.utils.module_loading import import_string

from config.errors import is_api


class ApiHandler(BaseHandler):
    """A synchronous Django handler whose middleware is ``API_MIDDLEWARE``."""

    def __init__(self, middleware: list[str]):
        super().__init__()
        self.load_api_middleware(middleware)

    def load_api_middleware(self, middleware: list[str]) -> None:
        # BaseHandler.load_middleware, synchronous only, over the given list.
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(middleware):
            instance = import_string(path)(handler)
            if instance is None:
                raise ImproperlyConfigured(f"Middleware factory {path} returned None.")
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler


class ApiDispatchMiddleware:
    """First in ``MIDDLEWARE``: ``/api/v1/`` requests take ``API_MIDDLEWARE``'s chain, every
    other request the rest of ``MIDDLEWARE``."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.api = ApiHandler(settings.API_MIDDLEWARE)

    def __call__(self, request):
        if is_api(request.path):
            return self.api._middleware_chain(request)
        return self.get_response(request)
