"""Reading providers' answers, written once for the consent screen's listing and the broker.

Pagination (RFC 8288 ``Link: rel="next"`` or a cursor in the body), Slack's ``200 {"ok": false}``
errors, and "the provider no longer accepts this token" (a 401, or Slack's auth errors) which both
callers answer with one forced refresh and one retry (:func:`with_refresh`). Pure, except
:func:`with_refresh`, which calls what it is given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# Slack's ways of saying 401.
SLACK_AUTH_ERRORS = frozenset({"invalid_auth", "token_revoked", "token_expired", "not_authed"})
SLACK_NOT_FOUND = frozenset({"channel_not_found", "not_in_channel"})
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True, slots=True)
class Paging:
    """How a provider pages a list: ``link`` (RFC 8288 ``Link: rel="next"``, GitHub's page
    number in ``param``) or ``cursor`` (a cursor in the body at ``next_path``, sent back as
    ``param``). ``size`` is the page size asked for in ``size_param``: the consent screen's
    listing asks for it, and the broker lets an app ask for up to it."""

    style: str  # "link" | "cursor" | "none"
    param: str = ""
    size_param: str = ""
    size: int = 100
    next_path: tuple[str, ...] = ()


NO_PAGING = Paging("none")


class AuthRejected(Exception):
    """The provider refused the token (401, or Slack's auth errors): refresh and retry once."""


def dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def ok_false(body: Any, ok_key: str = "ok") -> str | None:
    """The error code of a ``{"ok": false, "error": ...}`` body ("unknown_error" when it names
    none); None for a body that says it worked."""
    if not isinstance(body, dict) or body.get(ok_key) is True:
        return None
    error = body.get("error")
    return str(error)[:60] if error else "unknown_error"


def ok_false_error(dialect: str, body: Any) -> str | None:
    """Slack's error code for a ``{"ok": false}`` body; None for a body that is not an error,
    or a provider that does not speak this way."""
    return ok_false(body) if dialect == "slack" else None


def is_auth_rejection(dialect: str, status: int, body: Any = None) -> bool:
    if status == 401:
        return True
    return status == 200 and ok_false_error(dialect, body) in SLACK_AUTH_ERRORS


def next_link(headers: Mapping[str, str]) -> str | None:
    """The ``rel="next"`` URL of a Link header, if any (its origin is the client's to check)."""
    match = _LINK_NEXT.search(headers.get("Link", "") or headers.get("link", ""))
    return match.group(1) if match else None


def next_cursor(paging: Paging, body: Any) -> str | None:
    value = dig(body, paging.next_path)
    return value if isinstance(value, str) and value else None


def with_refresh(
    get_token: Callable[[str | None], str],
    use: Callable[[str], T],
    *,
    on_rejected: Callable[[str], Exception],
) -> T:
    """``use(get_token(None))``; if the provider rejects that token (``use`` raises
    :class:`AuthRejected`), ``get_token(rejected)`` refreshes once, naming the rejected token,
    and ``use`` runs once more; if the provider still refuses, raise ``on_rejected(token)``."""
    rejected: str | None = None
    for _attempt in range(2):
        token = get_token(rejected)
        try:
            return use(token)
        except AuthRejected:
            rejected = token
    raise on_rejected(rejected)
