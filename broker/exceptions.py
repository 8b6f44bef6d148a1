"""The broker API's errors: one JSON shape, ``{"error": {"code", "message", ...details}}``.

Each refusal is a subclass with three class attributes (``code``, ``status_code``, ``message``),
like DRF's own exceptions. :func:`exception_handler` renders them, and DRF's own errors, in the one
shape; nothing a provider said is ever passed through.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

from apps_registry.audience import API
from apps_registry.metadata import resource_metadata_url
from audit.context import current_request_id


class BrokerError(Exception):
    code = "error"
    status_code = status.HTTP_400_BAD_REQUEST
    message = "The request was refused."

    def __init__(self, message: str | None = None, *, headers: dict | None = None, **details: Any):
        self.message = message or self.message
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)

    def as_body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class InvalidToken(BrokerError):
    code = "invalid_token"
    status_code = status.HTTP_401_UNAUTHORIZED
    message = "The access token is missing, malformed, expired or revoked."


class InsufficientScope(BrokerError):
    code = "insufficient_scope"
    status_code = status.HTTP_403_FORBIDDEN
    message = "This token's grant does not include the scope this call needs."


class ResourceNotGranted(BrokerError):
    code = "resource_not_granted"
    status_code = status.HTTP_403_FORBIDDEN
    message = "The person did not select this resource for this app."


class ConnectionNeedsReauthorization(BrokerError):
    code = "connection_needs_reauthorization"
    status_code = status.HTTP_409_CONFLICT
    message = "The person must reconnect this service before the app can use it."


class BackgroundNotAllowed(BrokerError):
    code = "background_not_allowed"
    status_code = status.HTTP_403_FORBIDDEN
    message = "This grant does not allow use while the person is away."


class GrantRevoked(BrokerError):
    code = "grant_revoked"
    status_code = status.HTTP_403_FORBIDDEN
    message = "The person's grant for this app was revoked or has expired."


class AppSuspended(BrokerError):
    code = "app_suspended"
    status_code = status.HTTP_403_FORBIDDEN
    message = "This app is suspended by the platform."


class UpstreamUnavailable(BrokerError):
    code = "upstream_unavailable"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    message = "The service could not be reached. Try again later."

    def __init__(self, message: str | None = None, *, retry_after: int = 5, **kw: Any):
        headers = {"Retry-After": str(retry_after), **(kw.pop("headers", None) or {})}
        super().__init__(message, headers=headers, retry_after=retry_after, **kw)


class UpstreamRateLimited(BrokerError):
    code = "upstream_rate_limited"
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    message = "The service is rate-limiting requests. Retry after the indicated delay."


class UpstreamError(BrokerError):
    code = "upstream_error"
    status_code = status.HTTP_502_BAD_GATEWAY
    message = "The service answered with an error."


class UpstreamTokenRejected(BrokerError):
    code = "upstream_token_rejected"
    status_code = status.HTTP_502_BAD_GATEWAY
    message = (
        "The service rejects the connection's token even after a refresh; the person may need to "
        "reconnect it."
    )


class RateLimited(BrokerError):
    code = "rate_limited"
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    message = "Too many requests. Retry after the indicated delay."


class InvalidRequest(BrokerError):
    code = "invalid_request"
    status_code = status.HTTP_400_BAD_REQUEST
    message = "The request is malformed."


class NotFound(BrokerError):
    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND
    message = "Nothing was found at this address."


class MethodNotAllowed(BrokerError):
    code = "method_not_allowed"
    status_code = status.HTTP_405_METHOD_NOT_ALLOWED
    message = "This method is not allowed here."


REFUSALS: dict[str, type[BrokerError]] = {
    cls.code: cls
    for cls in (
        InvalidToken,
        InsufficientScope,
        ResourceNotGranted,
        ConnectionNeedsReauthorization,
        BackgroundNotAllowed,
        GrantRevoked,
        AppSuspended,
        UpstreamUnavailable,
        UpstreamRateLimited,
        UpstreamError,
        UpstreamTokenRejected,
        RateLimited,
        InvalidRequest,
        NotFound,
        MethodNotAllowed,
    )
}

_DRF_MAP: list[tuple[type[Exception], type[BrokerError]]] = [
    (drf_exceptions.NotAuthenticated, InvalidToken),
    (drf_exceptions.AuthenticationFailed, InvalidToken),
    (drf_exceptions.NotFound, NotFound),
    (drf_exceptions.MethodNotAllowed, MethodNotAllowed),
    (drf_exceptions.Throttled, RateLimited),
    (drf_exceptions.ParseError, InvalidRequest),
    (drf_exceptions.UnsupportedMediaType, InvalidRequest),
    (drf_exceptions.NotAcceptable, InvalidRequest),
    (drf_exceptions.ValidationError, InvalidRequest),
]


def error_response(exc: BrokerError) -> Response:
    body = exc.as_body()
    # The id the platform's logs and audit rows carry for this request, for support.
    body["error"]["request_id"] = current_request_id()
    response = Response(body, status=exc.status_code, headers=exc.headers)
    if isinstance(exc, InvalidToken):
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    elif isinstance(exc, InsufficientScope):
        response["WWW-Authenticate"] = (
            f'Bearer error="insufficient_scope", scope="{exc.details.get("scope", "")}"'
        )
    return response


def _with_resource_metadata(response: Response, request) -> Response:
    """RFC 9728 5.1: a Bearer challenge names the API's protected resource metadata."""
    challenge = response.get("WWW-Authenticate")
    if challenge and request is not None:
        url = resource_metadata_url(request, API)
        response["WWW-Authenticate"] = f'{challenge}, resource_metadata="{url}"'
    return response


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER`` for the broker: every error in the one shape."""
    if isinstance(exc, BrokerError):
        return _with_resource_metadata(error_response(exc), context.get("request"))
    if isinstance(exc, Http404):
        return error_response(NotFound())
    for drf_class, broker_class in _DRF_MAP:
        if isinstance(exc, drf_class):
            details = {}
            if isinstance(exc, drf_exceptions.ValidationError):
                details["fields"] = exc.detail
            headers = {}
            wait = getattr(exc, "wait", None)
            if wait is not None:
                headers["Retry-After"] = str(max(1, int(wait)))
            return error_response(broker_class(headers=headers, **details))
    if isinstance(exc, drf_exceptions.APIException):
        return Response(
            {
                "error": {
                    "code": exc.default_code,
                    "message": str(exc.detail),
                    "request_id": current_request_id(),
                }
            },
            status=exc.status_code,
        )
    # Anything else is a bug: Django logs it with its traceback, and config.errors'
    # ApiErrorMiddleware answers 500 internal_error in the API's shape (debug page or not).
    return None
