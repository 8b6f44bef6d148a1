"""The platform's own answer to every failure.

- Pages: 400, 403, 404 and 500 in the site's style (``templates/error_page.html``), a sentence a
  person understands and a way back (Django's ``handler400`` ... ``handler500``).
- The API (``/api/v1/``): whatever went wrong, an app gets the API's JSON error shape,
  ``{"error": {"code", "message", "request_id"}}``, in debug mode too; never an HTML page.
  :class:`ApiErrorMiddleware` replaces any non-JSON error response there (Django's debug page for
  an unexpected exception, its 404 page for an unknown URL, a CSRF refusal...). The exception and
  its traceback are still logged server-side by Django (``django.request``), with the request id.
"""

from __future__ import annotations

from django.http import JsonResponse

from identity.pages import page

API_PREFIXES = ("/api/v1/",)

API_CODES = {
    400: ("invalid_request", "The request is malformed."),
    401: ("invalid_token", "The access token is missing, malformed, expired or revoked."),
    403: ("forbidden", "This request is not allowed."),
    404: ("not_found", "Nothing was found at this address."),
    405: ("method_not_allowed", "This method is not allowed here."),
    413: ("invalid_request", "The request body is too large."),
    429: ("rate_limited", "Too many requests. Retry after the indicated delay."),
    500: ("internal_error", "The platform failed to handle this request; it has been logged."),
}


def bad_request(request, exception=None):
    return page(request, 400)


def permission_denied(request, exception=None):
    return page(request, 403)


def page_not_found(request, exception=None):
    return page(request, 404)


def server_error(request):
    return page(request, 500)


def api_error(request, status: int, *, message: str = "", headers=None) -> JsonResponse:
    code, default = API_CODES.get(status, API_CODES[500] if status >= 500 else API_CODES[400])
    response = JsonResponse(
        {
            "error": {
                "code": code,
                "message": message or default,
                "request_id": getattr(request, "request_id", ""),
            }
        },
        status=status,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES)


class ApiErrorMiddleware:
    """Under ``/api/v1/`` an error response that is not JSON becomes the API's JSON error."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and is_api(request.path)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            kept = {
                h: response[h]
                for h in ("Retry-After", "WWW-Authenticate", "Allow")
                if h in response
            }
            return api_error(request, response.status_code, headers=kept)
        return response
