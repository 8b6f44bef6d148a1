"""The id of the request (or task) being served, for audit events and log lines.

It lives here, at the bottom, so that ``record_event`` can read it without importing the web
layer: ``config.middleware.RequestIdMiddleware`` sets it for each request.
"""

from __future__ import annotations

import contextvars

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)


def current_request_id() -> str | None:
    """The id of the request being served (also written into audit events)."""
    return request_id_var.get()


# The caller's own X-Request-ID, if well-formed: kept apart from ours, never trusted as it.
client_request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar(
    "client_request_id", default=""
)


def current_client_request_id() -> str:
    return client_request_id_var.get()
