"""Operations as data: what the broker may call at a provider, declared once per operation.

An :class:`Operation` says how an ``/api/v1/`` route maps to the provider's API: the method, the
upstream path template (relative to the provider's ``api_base_url``), the platform scope, which
route parameters name the resource checked against the grant's selection, how a list response
is filtered to that selection, and how it pages. One generic view serves every declaration
(``broker.views``); adding an operation is adding a declaration to an adapter.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from broker.policy import canonical_resource


@dataclass(frozen=True, slots=True)
class Pagination:
    """Maps the broker's ``page`` / ``page_size`` to the provider's own cursor parameters."""

    page_param: str  # provider query parameter carrying the cursor or page number
    size_param: str
    max_size: int = 100
    # Where the provider's next cursor is: a key path in the JSON body, or "link" for GitHub's
    # Link header (then the next page number is computed).
    next_from: tuple[str, ...] | str = ()


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


@dataclass(frozen=True, slots=True)
class BodyField:
    name: str
    kind: type = str
    required: bool = True
    max_length: int = 65_536


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
    pagination: Pagination | None = None
    parent_check: ParentCheck | None = None
    body_fields: tuple[BodyField, ...] = ()
    # Fields the broker puts in the upstream body from route parameters (templates).
    body_from_route: Mapping[str, str] = field(default_factory=dict)
    encode_body: Callable[[dict], tuple[bytes, str]] | None = None
    raw_response: bool = False  # file content: bytes, not JSON
    # Slack answers 200 with {"ok": false, "error": ...}; the adapter says how to read errors.
    ok_key: str | None = None
    is_write: bool = False

    @property
    def http_method(self) -> str:
        return self.upstream_method or self.method

    @property
    def idempotent(self) -> bool:
        return self.http_method in {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}

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
            canonical = canonical_resource(self.resource_kind, raw)
            if canonical is not None:
                parts = canonical.split("/")
                if len(parts) == len(self.resource_params):
                    out.update(zip(self.resource_params, parts, strict=True))
        return out


class Adapter:
    """One provider family's operations. Subclasses only declare ``service`` and ``operations``."""

    service: str = ""
    operations: tuple[Operation, ...] = ()


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
