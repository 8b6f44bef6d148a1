"""The one HTTP client the broker uses to call providers.

A pooled ``requests.Session`` with connect and read timeouts; retries with backoff only for
idempotent requests; a provider's ``429``/``Retry-After`` is reported, not retried into; responses
larger than the limit are cut off and refused; and only the provider's configured ``api_base_url``
is ever contacted: the URL is the base plus a path built from the operation's template with every
value percent-encoded, and the result is checked to still be on the base's origin.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from broker import exceptions

_session: requests.Session | None = None


def session() -> requests.Session:
    global _session
    if _session is None:
        s = requests.Session()
        pool = settings.BROKER_UPSTREAM_POOL_SIZE
        adapter = HTTPAdapter(pool_connections=pool, pool_maxsize=pool, max_retries=0)
        s.mount("http://", adapter)
        s.mount("https://", adapter)
        s.trust_env = False  # no proxy or netrc from the environment decides where tokens go
        _session = s
    return _session


def close_session() -> None:
    """Drop pooled keep-alive connections (tests, before their server goes away)."""
    global _session
    if _session is not None:
        _session.close()
        _session = None


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    content: bytes
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)
    elapsed_ms: float = 0.0

    def json(self):
        import json

        return json.loads(self.content or b"null")


def encode_segment(value: str, *, allow_slash: bool = False) -> str:
    """One path value, percent-encoded so that it stays one segment (or, for file paths, a run of
    segments with no dot segments)."""
    text = str(value)
    if allow_slash:
        parts = text.split("/")
        if any(p in {"", ".", ".."} for p in parts):
            raise exceptions.InvalidRequest("The path contains an empty or dot segment.")
        return "/".join(quote(p, safe="") for p in parts)
    if text in {"", ".", ".."}:
        raise exceptions.InvalidRequest("A path parameter is empty or a dot segment.")
    return quote(text, safe="")


def build_url(
    base_url: str,
    template: str,
    params: Mapping[str, str],
    *,
    path_params: tuple[str, ...] = (),
    query: Mapping[str, str] | None = None,
) -> str:
    """``base_url`` + the template filled with encoded values; refuses anything off the base."""
    encoded = {
        name: encode_segment(value, allow_slash=name in path_params)
        for name, value in params.items()
    }
    path = template.format(**encoded)
    base = base_url.rstrip("/")
    url = base + path
    if query:
        url += "?" + urlencode(query)
    b, u = urlsplit(base), urlsplit(url)
    if (u.scheme, u.netloc) != (b.scheme, b.netloc) or not u.path.startswith(b.path):
        raise exceptions.InvalidRequest("The request would leave the provider's API.")
    return url


def _retry_after(headers: Mapping[str, str]) -> int:
    raw = headers.get("Retry-After", "")
    try:
        return max(1, min(int(float(raw)), 3600))
    except ValueError:
        return 60


def call(
    method: str,
    url: str,
    *,
    token: str,
    idempotent: bool,
    data: bytes | None = None,
    content_type: str | None = None,
    json_body: dict | None = None,
) -> UpstreamResponse:
    """One provider request. Raises UpstreamUnavailable / UpstreamRateLimited; other statuses
    are returned for the caller to interpret (401 triggers a refresh there)."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    attempts = 1 + (settings.BROKER_UPSTREAM_RETRIES if idempotent else 0)
    timeout = (settings.BROKER_UPSTREAM_CONNECT_TIMEOUT, settings.BROKER_UPSTREAM_READ_TIMEOUT)
    limit = settings.BROKER_UPSTREAM_MAX_BYTES
    for attempt in range(attempts):
        started = time.perf_counter()
        try:
            with session().request(
                method,
                url,
                headers=headers,
                data=data,
                json=json_body,
                timeout=timeout,
                stream=True,
                allow_redirects=False,
            ) as response:
                chunks, size = [], 0
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise exceptions.UpstreamError(
                            "The service's answer is larger than the platform accepts.",
                            upstream_status=response.status_code,
                        )
                    chunks.append(chunk)
                result = UpstreamResponse(
                    status=response.status_code,
                    content=b"".join(chunks),
                    content_type=response.headers.get("Content-Type", ""),
                    headers=dict(response.headers),
                    elapsed_ms=(time.perf_counter() - started) * 1000,
                )
        except requests.RequestException:
            if attempt + 1 < attempts:
                time.sleep(settings.BROKER_UPSTREAM_BACKOFF * (2**attempt))
                continue
            raise exceptions.UpstreamUnavailable() from None
        if result.status == 429:
            wait = _retry_after(result.headers)
            raise exceptions.UpstreamRateLimited(
                headers={"Retry-After": str(wait)}, retry_after=wait
            )
        if result.status >= 500 and attempt + 1 < attempts:
            time.sleep(settings.BROKER_UPSTREAM_BACKOFF * (2**attempt))
            continue
        return result
    raise AssertionError("unreachable")  # pragma: no cover
