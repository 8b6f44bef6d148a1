"""How the broker builds provider URLs and sends them through the platform's one outbound client.

The client (:mod:`connections.outbound`) pools, pins origins, never follows redirects, ignores the
proxy environment and bounds time and size. This module adds what is the broker's own: the URL is
the provider's ``api_base_url`` plus a path built from the operation's template with every value
percent-encoded, checked to still be under the base; and the client's errors become broker errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlencode, urlsplit

from broker import exceptions
from connections import outbound

# The broker's view of the one outbound client: its answer type, and its pooled session.
UpstreamResponse = outbound.Response
close_session = outbound.close_session


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


def call(
    method: str,
    url: str,
    *,
    token: str,
    idempotent: bool,
    origins: tuple[str, ...] | None = None,
    data: bytes | None = None,
    content_type: str | None = None,
    json_body: dict | None = None,
    before_attempt=None,
) -> UpstreamResponse:
    """One provider request through :mod:`connections.outbound`. Raises UpstreamUnavailable /
    UpstreamRateLimited / UpstreamError; other statuses are returned for the caller to interpret
    (401 triggers a refresh there). ``origins`` defaults to the URL's own (already checked
    against the provider's base by :func:`build_url`)."""
    try:
        return outbound.request(
            method,
            url,
            origins=origins or (outbound.origin_of(url),),
            bearer=token,
            idempotent=idempotent,
            data=data,
            content_type=content_type,
            json_body=json_body,
            before_attempt=before_attempt,
        )
    except outbound.RateLimited as exc:
        raise exceptions.UpstreamRateLimited(
            headers={"Retry-After": str(exc.retry_after)}, retry_after=exc.retry_after
        ) from None
    except outbound.TooLarge as exc:
        raise exceptions.UpstreamError(exc.message, upstream_status=exc.status) from None
    except outbound.OffOrigin as exc:
        raise exceptions.InvalidRequest(exc.message) from None
    except outbound.OverCapacity as exc:
        refused = exceptions.UpstreamUnavailable(exc.message, retry_after=exc.retry_after)
        refused.sent = False  # not the provider's failure: nothing was sent
        raise refused from None
    except outbound.Unreachable:
        raise exceptions.UpstreamUnavailable() from None
