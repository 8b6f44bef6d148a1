"""Short middleware chains for the machine-to-machine endpoints: the broker API and the OAuth
authorization server's token-side endpoints.

A call to ``/api/v1/`` is an app with a bearer token: it never has a session, a CSRF cookie, a
signed-in person, flash messages, allauth's state or a time zone, yet the site's ``MIDDLEWARE``
(15 of them) cost a brokered call about a tenth of its CPU. :class:`ApiDispatchMiddleware` is the
first entry of ``MIDDLEWARE``; it sends every ``/api/v1/`` request through ``API_MIDDLEWARE``
instead: the request id, the API's error shape, the outbound budget and the same security
headers the site sends (``SecurityMiddleware``, ``CommonMiddleware``, ``X-Frame-Options``, CSP).
Because it is a middleware, Django's test client, gunicorn and the tests all take this path.

The authorization server's token, revocation and introspection endpoints
(``OAUTH_ENDPOINT_PREFIXES``) are the same kind of caller: a client authenticating itself in
the request, never a person's session (DOT's views and ours are CSRF-exempt and read no
``request.user``). The authorization endpoint (the consent screen) needs the person, and DOT's
dynamic registration view reads ``request.user``: both stay on the site's chain. So is ``/mcp``, the MCP endpoint (a bearer token, JSON-RPC and RFC 6750 errors of its own).
They take ``OAUTH_ENDPOINT_MIDDLEWARE``: the API's list without the
API's error shape, since their errors are RFC 6749's own JSON.

Each chain is a Django handler of its own (:class:`ApiHandler`), so resolving, the views'
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

from config.errors import API_PREFIXES

# Mounted by config/urls.py under /oauth/ (apps_registry.oauth_urls); a test checks that each
# of those endpoints' addresses starts with one of these, the authorization and registration
# endpoints' do not.
OAUTH_ENDPOINT_PREFIXES = (
    "/oauth/token/",
    "/oauth/revoke_token/",
    "/oauth/introspect/",
)
# The MCP endpoint (broker.mcp_server): a client with a bearer token, as on /api/v1/, answering
# JSON-RPC and RFC 6750 errors itself, so it takes the token endpoints' chain. Exactly this path.
MCP_PATH = "/mcp"


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
    """First in ``MIDDLEWARE``: ``/api/v1/`` requests take ``API_MIDDLEWARE``'s chain, the OAuth
    token-side endpoints ``OAUTH_ENDPOINT_MIDDLEWARE``'s, every other request the rest of
    ``MIDDLEWARE``."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.api_chain = ApiHandler(settings.API_MIDDLEWARE)._middleware_chain
        self.client_chain = ApiHandler(settings.OAUTH_ENDPOINT_MIDDLEWARE)._middleware_chain

    def __call__(self, request):
        path = request.path
        if path.startswith(API_PREFIXES):
            return self.api_chain(request)
        if path == MCP_PATH or path.startswith(OAUTH_ENDPOINT_PREFIXES):
            return self.client_chain(request)
        return self.get_response(request)
