"""A provider's broker operations, declared with the provider, and how each one's answer is read.

An :class:`Operation` says how an ``/api/v1/`` route maps to the provider's API: the method, the
upstream path template (relative to the provider's ``api_base_url``), the platform scope, which
route parameters name the resource checked against the grant's selection, how a list answer is
narrowed to that selection, and how it pages. Its methods read the provider's answer in the
provider's own dialect (status, Slack's ``ok: false``, the next page, the items in the selection),
so the broker's orchestration (``broker.call``, ``broker.provider_calls``), its one generic view
(``broker.views``) and its MCP tools (``broker.mcp_tools``) never name a provider.

A provider module declares its operations on its :class:`~connections.providers.base.ProviderSpec`;
a data-declared one (``PROVIDERS_FILE``) brings them as data, read by :func:`operation_from_data`.
Pure: no Django, no database, no network.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connections.providers import answers
from connections.providers.answers import Paging
from connections.providers.kinds import canonical


@dataclass(frozen=True, slots=True)
class ListFilter:
    """How a list response is narrowed to the selection: where the items are, and each one's id."""

    items_key: tuple[str, ...]  # () = the body itself is the list
    # The ids an item is admitted by: its own, or (Drive) its parent folders'.
    id_of: Callable[[Mapping[str, Any]], list[str]]


@dataclass(frozen=True, slots=True)
class ParentCheck:
    """A single resource checked by its parents upstream (a Drive file by its folders)."""

    path: str
    query: Mapping[str, str]
    parents_key: str = "parents"

    def parents(self, body: Any) -> tuple[str, ...]:
        """The parent ids in the provider's answer (none when it is not the expected shape)."""
        parents = body.get(self.parents_key) if isinstance(body, dict) else None
        return tuple(str(p) for p in parents or () if isinstance(p, str))


@dataclass(frozen=True, slots=True)
class BodyField:
    name: str
    kind: type = str
    required: bool = True
    max_length: int = 65_536


class AnswerError(Exception):
    """The provider's answer is an error. ``kind`` is ``not_found`` or ``refused``; ``message``
    names only the status (never the provider's body, which may echo what the app sent)."""

    def __init__(self, kind: str, message: str, *, status: int):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


class BadPage(ValueError):
    """The app's ``page`` or ``page_size`` is not one this operation's provider accepts."""


@dataclass(frozen=True, slots=True)
class Operation:
    name: str  # stable id, e.g. "github.issues.create"
    service: str
    summary: str
    method: str  # the broker's method; the upstream one is ``upstream_method``
    route: str  # Django path under /api/v1/, e.g. "github/repos/<owner>/<repo>"
    upstream_path: str  # e.g. "/repos/{owner}/{repo}"; each value is percent-encoded
    scope: str
    upstream_method: str = ""
    upstream_query: Mapping[str, str] = field(default_factory=dict)  # templates
    resource_kind: str | None = None
    # Route parameters that, joined by "/", name the resource (("owner", "repo") -> "owner/repo").
    resource_params: tuple[str, ...] = ()
    # Route parameters that are free path segments (a file path): may contain "/".
    path_params: tuple[str, ...] = ()
    list_filter: ListFilter | None = None
    # How the provider pages this list (the same :class:`Paging` its resource listing uses);
    # ``size`` is the largest page an app may ask for.
    pagination: Paging | None = None
    # Where a paged answer that is not narrowed to the selection keeps its items (Slack's
    # history: ("messages",)); () = the body itself is the list.
    items_key: tuple[str, ...] = ()
    parent_check: ParentCheck | None = None
    body_fields: tuple[BodyField, ...] = ()
    # Fields the broker puts in the upstream body from route parameters (templates).
    body_from_route: Mapping[str, str] = field(default_factory=dict)
    encode_body: Callable[[dict], tuple[bytes, str]] | None = None
    raw_response: bool = False  # file content: bytes, not JSON
    # Slack answers 200 with {"ok": false, "error": ...}: the key that says whether it worked.
    ok_key: str | None = None
    is_write: bool = False

    @property
    def http_method(self) -> str:
        return self.upstream_method or self.method

    @property
    def idempotent(self) -> bool:
        return self.http_method in {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}

    @property
    def is_list(self) -> bool:
        return self.list_filter is not None or self.pagination is not None

    def resource_of(self, params: Mapping[str, str]) -> str | None:
        if not self.resource_params:
            return None
        return "/".join(str(params[p]) for p in self.resource_params)

    def canonical_params(self, params: Mapping[str, str]) -> dict[str, str]:
        """Route parameters with the resource replaced by its canonical spelling, so the upstream
        call names exactly what was checked."""
        out = dict(params)
        raw = self.resource_of(params)
        if raw is not None and self.resource_kind:
            value = canonical(self.resource_kind, raw)
            if value is not None:
                parts = value.split("/")
                if len(parts) == len(self.resource_params):
                    out.update(zip(self.resource_params, parts, strict=True))
        return out

    # ---- the request ---------------------------------------------------------------------------
    def query(self, params: Mapping[str, str], page: Any = None, page_size: Any = None) -> dict:
        """The upstream query: the declared templates filled in, and the app's ``page`` /
        ``page_size`` in the provider's own parameters. Raises :class:`BadPage`."""
        out = {k: v.format(**params) for k, v in self.upstream_query.items()}
        pagination = self.pagination
        if pagination is None:
            return out
        if page:
            page = str(page)
            if len(page) > 512 or (pagination.style == "link" and not page.isdigit()):
                raise BadPage("page is not a valid page cursor.")
            out[pagination.param] = page
        if page_size:
            if not str(page_size).isdigit() or not 1 <= int(page_size) <= pagination.size:
                raise BadPage(f"page_size must be a whole number from 1 to {pagination.size}.")
            out[pagination.size_param] = str(int(page_size))
        return out

    def body(self, body: Mapping | None, params: Mapping[str, str]) -> dict:
        """The upstream body: what the app sent plus the fields taken from the route."""
        payload = dict(body or {})
        payload.update({k: v.format(**params) for k, v in self.body_from_route.items()})
        return payload

    # ---- the answer ----------------------------------------------------------------------------
    def read(self, status: int, body: Callable[[], Any]) -> Any:
        """The provider's answer -> its data (None for raw content). Raises :class:`AnswerError`,
        or :class:`answers.AuthRejected` when the provider says the token is no longer good
        (a 401 is the caller's to see first; this is Slack's 200 ``invalid_auth``)."""
        if status == 404:
            raise AnswerError("not_found", "The service found nothing at this address.", status=404)
        if not 200 <= status < 300:
            raise AnswerError(
                "refused", f"The {self.service} service answered with status {status}.",
                status=status,
            )  # fmt: skip
        if self.raw_response:
            return None
        try:
            data = body()
        except ValueError:
            raise AnswerError(
                "refused", "The service's answer was not valid JSON.", status=status
            ) from None
        error = answers.ok_false(data, self.ok_key) if self.ok_key else None
        if error:
            if error in answers.SLACK_NOT_FOUND:
                raise AnswerError("not_found", "The service found no such channel.", status=200)
            if error in answers.SLACK_AUTH_ERRORS:
                raise answers.AuthRejected()
            raise AnswerError(
                "refused", f"The {self.service} service refused the request.", status=status
            )
        return data

    def rejects_token(self, status: int, body: Callable[[], Any]) -> bool:
        """A 200 that says the token is no longer good (Slack's ``invalid_auth`` and kin): the
        caller refreshes and retries once, as for a 401. ``body`` is only called (the answer
        parsed) for an operation whose answers carry ``ok_key``."""
        if self.ok_key is None or status != 200:
            return False
        return answers.ok_false(body(), self.ok_key) in answers.SLACK_AUTH_ERRORS

    def next_page(self, headers: Mapping[str, str], data: Any) -> str | None:
        """The cursor the app sends back as ``page`` for the next page, if there is one."""
        pagination = self.pagination
        if pagination is None:
            return None
        if pagination.style == "link":
            url = answers.next_link(headers)
            page = parse_qs(urlsplit(url).query).get(pagination.param) if url else None
            return page[0] if page and page[0].isdigit() else None
        return answers.next_cursor(pagination, data)

    def items(self, data: Any, selected: frozenset[str]) -> list:
        """The items of a list answer; for a list narrowed to the selection, only the selected
        ones (compared in canonical form, the same one the consent screen stored)."""
        key = self.list_filter.items_key if self.list_filter is not None else self.items_key
        items = answers.dig(data, key)
        if not isinstance(items, list):
            return []
        if self.list_filter is None:
            return items
        return [item for item in items if self._selected(item, selected)]

    def _selected(self, item: Any, selected: frozenset[str]) -> bool:
        if not isinstance(item, dict):
            return False
        kind = self.resource_kind or ""
        ids = self.list_filter.id_of(item)
        return any(canonical(kind, i) in selected for i in ids if isinstance(i, str))

    def data(self, data: Any) -> Any:
        """A single object's answer without the provider's envelope (Slack's ``ok``, ``warning``)."""
        if isinstance(data, dict) and self.ok_key:
            return {k: v for k, v in data.items() if k not in {self.ok_key, "warning"}}
        return data


def multipart_related(metadata: dict, content: str, content_type: str) -> tuple[bytes, str]:
    """Drive's ``uploadType=multipart`` body: a JSON metadata part and a content part."""
    boundary = f"broker-{uuid.uuid4().hex}"
    parts = [
        f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n",
        json.dumps(metadata),
        f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n",
        content,
        f"\r\n--{boundary}--\r\n",
    ]
    return "".join(parts).encode(), f"multipart/related; boundary={boundary}"


# ---- operations as data (PROVIDERS_FILE) -------------------------------------------------------
_ALLOWED = {
    "name", "summary", "method", "route", "path", "scope", "resource_kind", "resource_params",
    "list", "body", "write", "query",
}  # fmt: skip


def _id_field(name: str) -> Callable[[Mapping[str, Any]], list[str]]:
    def id_of(item):
        value = item.get(name)
        return [value] if isinstance(value, str) else []

    return id_of


def operation_from_data(service: str, entry: Mapping) -> Operation:
    """One data-file operation as a declaration, the same as a provider module's. One entry::

        {"name": "acme.projects.get", "summary": "Get a selected project", "method": "GET",
         "route": "acme/projects/<str:project>", "path": "/projects/{project}",
         "scope": "services.acme.projects.read", "resource_kind": "project",
         "resource_params": ["project"]}

    plus, for a list narrowed to the selection, ``"list": {"items": ["items"], "id": "id"}``;
    for a write, ``"write": true`` and ``"body": [{"name": "text", "max_length": 1000}]``.
    ValueError names what is wrong."""
    unknown = set(entry) - _ALLOWED
    if unknown:
        raise ValueError(f"Operation {entry.get('name')!r}: unknown fields {sorted(unknown)}.")
    missing = [k for k in ("name", "route", "path", "scope") if not entry.get(k)]
    if missing:
        raise ValueError(f"Operation {entry.get('name')!r} lacks {', '.join(missing)}.")
    listing = entry.get("list")
    return Operation(
        name=str(entry["name"]),
        service=service,
        summary=str(entry.get("summary", entry["name"])),
        method=str(entry.get("method", "GET")).upper(),
        route=str(entry["route"]),
        upstream_path=str(entry["path"]),
        scope=str(entry["scope"]),
        upstream_query=dict(entry.get("query", {})),
        resource_kind=entry.get("resource_kind"),
        resource_params=tuple(entry.get("resource_params", ())),
        list_filter=ListFilter(
            items_key=tuple(listing.get("items", ())), id_of=_id_field(listing.get("id", "id"))
        )
        if listing
        else None,
        body_fields=tuple(
            BodyField(
                str(b["name"]),
                required=bool(b.get("required", True)),
                max_length=int(b.get("max_length", 65_536)),
            )
            for b in entry.get("body", ())
        ),
        is_write=bool(entry.get("write", False)),
    )
