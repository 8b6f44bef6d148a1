"""Cross-cutting HTTP concerns: a request id on every request and log line, and the CSP header."""

import logging
import re
import uuid

from django.conf import settings

from audit.context import (
    client_request_id_var,
    current_client_request_id,
    current_request_id,
    request_id_var,
)
from connections.outbound import call_budget

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Give every request a server-generated id; keep a well-formed ``X-Request-ID`` from the
    caller as the client request id. The response carries both (``X-Request-ID`` is ours)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # META, not request.headers: that builds a mapping of every header, on every request.
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        client_id = incoming if _SAFE_ID.match(incoming) else ""
        request_id = uuid.uuid4().hex
        request.request_id = request_id
        request.client_request_id = client_id
        token = request_id_var.set(request_id)
        client_token = client_request_id_var.set(client_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
            client_request_id_var.reset(client_token)
        response["X-Request-ID"] = request_id
        if client_id:
            response["X-Client-Request-ID"] = client_id
        return response


class OutboundBudgetMiddleware:
    """Every provider call a request makes shares one deadline and a bounded share of this
    process's threads per provider (connections.outbound.call_budget)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with call_budget():
            return self.get_response(request)


class RequestIdLogFilter(logging.Filter):
    def filter(self, record):
        record.request_id = current_request_id() or "-"
        record.client_request_id = current_client_request_id()
        return True


class ContentSecurityPolicyMiddleware:
    """CSP on every HTML response; ``frame-ancestors 'none'`` keeps the consent screen unframeable."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response
