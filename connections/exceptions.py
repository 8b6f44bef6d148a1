"""Errors the connections layer raises to its callers (the broker, the consent screen).

Each carries a ``code``, a ``status_code`` for the API and a human ``message``; none ever includes a
token, a provider response body or a secret.
"""

from __future__ import annotations


class ConnectionProblem(Exception):
    """Base of the errors below (named so as not to shadow the builtin ConnectionError)."""

    code = "connection_error"
    status_code = 502
    default_message = "The connected service could not be used."

    def __init__(self, message: str | None = None, *, connection=None):
        self.message = message or self.default_message
        self.connection = connection
        super().__init__(self.message)


class ConnectionNeedsReauthorization(ConnectionProblem):
    """The person must connect the service again (revoked grant, invalid_grant, disconnected)."""

    code = "connection_needs_reauthorization"
    status_code = 409
    default_message = "The connected service needs to be authorized again."


class ProviderUnavailable(ConnectionProblem):
    """The provider timed out, answered 5xx or rate-limited us; try again later."""

    code = "upstream_unavailable"
    status_code = 503
    default_message = "The connected service is temporarily unavailable."


class RefreshInProgress(ProviderUnavailable):
    """Someone else is refreshing this connection's token right now (and did not finish in the
    time this caller could wait)."""

    default_message = "The connection is being refreshed; try again shortly."


class TokenRejected(ConnectionProblem):
    """The provider keeps answering 401 to a token that was just refreshed: reported, without
    rotating the refresh token again on every call."""

    code = "upstream_token_rejected"
    status_code = 502
    default_message = (
        "The service rejects the connection's token even after a refresh; the person may need "
        "to reconnect it."
    )


class TokenEndpointError(Exception):
    """The provider's token endpoint refused or answered something unusable (connect flow)."""

    def __init__(self, message: str, *, kind: str = "error"):
        self.message = message
        self.kind = kind  # invalid_grant / unavailable / busy (nothing sent) / malformed / error
        super().__init__(message)
