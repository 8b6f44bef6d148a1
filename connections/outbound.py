"""The one HTTP client for every call the platform makes to a provider.

Connect (code exchange, profile), refresh, revoke, the consent screen's resource listing and the
broker all go through :func:`request`. It is the only place that holds a provider credential on the
wire, so the rules live here once:

- **Origin pinning.** Every request names the origins it may reach (the provider's configured
  hosts, :attr:`connections.providers.ProviderSpec.origins`); a URL elsewhere, such as a
  ``Link: rel="next"`` pointing at another host, is refused before anything is sent.
- **No redirects.** A 3xx is returned as it is, never followed: a redirect must not carry a token
  (or a client secret) anywhere, not even to another path on the same host.
- **No environment.** The transport is urllib3's pool, which reads nothing from the environment:
  ``HTTPS_PROXY``, ``ALL_PROXY``, ``.netrc`` and ``REQUESTS_CA_BUNDLE`` never decide where a
  token goes. (Not ``requests``: preparing each request through its session, hooks, cookies and
  settings merge cost more CPU than the rest of a brokered call's provider request.)
- **Bounded.** Connect and read timeouts, a total time limit for the whole answer, a size limit;
  retries with backoff only for idempotent requests; a ``429`` is reported, not retried into.
- **One deadline per call, a bounded share of the web.** Inside :func:`call_budget` (every web
  request: ``config.middleware.OutboundBudgetMiddleware``) all requests, retries and token refreshes
  share one deadline (``BROKER_CALL_DEADLINE_SECONDS``), and at most
  ``BROKER_PROVIDER_CONCURRENCY`` requests to one provider host are in flight in the process;
  one more is refused at once (:class:`OverCapacity`), so a provider that hangs holds a bounded
  number of the web's threads and the rest keep serving.

Errors never carry the response body or the request's credentials.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import urllib3
from django.conf import settings


class OutboundError(Exception):
    """Base of the client's errors; ``message`` is safe to show (no body, no credential)."""

    def __init__(self, message: str, *, status: int | None = None):
        self.message = message
        self.status = status
        super().__init__(message)


class OffOrigin(OutboundError):
    """The URL is not on one of the provider's configured origins: nothing was sent."""


class Unreachable(OutboundError):
    """Connection refused, reset, timed out, or the answer took longer than the limit."""


class OverCapacity(Unreachable):
    """This process already has its share of requests in flight to this provider host (it is
    slow or hanging): refused without sending; ``retry_after`` in seconds."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class TooLarge(OutboundError):
    """The answer is larger than ``OUTBOUND_MAX_BYTES``; it was cut off and dropped."""


class RateLimited(OutboundError):
    """The provider answered 429; ``retry_after`` is its Retry-After in seconds (1..3600)."""

    def __init__(self, message: str, *, retry_after: int, headers: Mapping[str, str]):
        super().__init__(message, status=429)
        self.retry_after = retry_after
        self.headers = dict(headers)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    content: bytes
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    url: str = ""

    def json(self):
        """The body as JSON; raises ValueError when it is not JSON."""
        return json.loads(self.content or b"null")

    def json_or_none(self):
        try:
            return self.json()
        except ValueError:
            return None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


_lock = threading.Lock()
_session: urllib3.PoolManager | None = None
USER_AGENT = f"agent-access-platform (urllib3/{urllib3.__version__})"

# The deadline (time.monotonic()) of the call being served, when one is; see call_budget.
_deadline: ContextVar[float | None] = ContextVar("outbound_deadline", default=None)
_slots: dict[str, threading.BoundedSemaphore] = {}


@contextmanager
def call_budget(seconds: float | None = None) -> Iterator[float]:
    """Every provider request made inside shares one deadline (``seconds`` from now, default
    ``BROKER_CALL_DEADLINE_SECONDS``; a nested budget never extends its parent's) and takes one
    of the provider host's ``BROKER_PROVIDER_CONCURRENCY`` slots while it is in flight."""
    seconds = settings.BROKER_CALL_DEADLINE_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + seconds
    outer = _deadline.get()
    if outer is not None:
        deadline = min(deadline, outer)
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


def deadline() -> float | None:
    """The current call's deadline (``time.monotonic()``), or None outside a budget."""
    return _deadline.get()


def _slot(origin: str) -> threading.BoundedSemaphore:
    with _lock:
        slot = _slots.get(origin)
        if slot is None:
            slot = _slots[origin] = threading.BoundedSemaphore(settings.BROKER_PROVIDER_CONCURRENCY)
        return slot


def reset_slots() -> None:
    """Forget the per-host slots (tests that change BROKER_PROVIDER_CONCURRENCY)."""
    with _lock:
        _slots.clear()


def session() -> urllib3.PoolManager:
    """The process's connection pool (keep-alive per provider host). It follows no redirect
    and retries nothing by itself (this module decides both), and reads no proxy or CA bundle
    from the environment."""
    global _session
    if _session is None:
        with _lock:
            if _session is None:
                pool = settings.OUTBOUND_POOL_SIZE
                _session = urllib3.PoolManager(
                    num_pools=pool, maxsize=pool, block=False, retries=False
                )
    return _session


def close_session() -> None:
    """Drop pooled keep-alive connections (tests, before their server goes away)."""
    global _session
    with _lock:
        if _session is not None:
            _session.clear()
            _session = None


def _basic(credentials: tuple[str, str]) -> str:
    # As HTTP clients have always sent it (requests' HTTPBasicAuth): latin-1, base64.
    user, password = (v.encode("latin-1") if isinstance(v, str) else v for v in credentials)
    return "Basic " + base64.b64encode(user + b":" + password).decode("ascii")


def _with_params(url: str, params: Mapping[str, str] | None) -> str:
    if not params:
        return url
    query = urlencode(params, doseq=True)
    return url + ("&" if urlsplit(url).query else "?") + query


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased, default ports dropped."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is None or (scheme, port) in {("http", 80), ("https", 443)}:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def check_origin(url: str, allowed: Collection[str]) -> None:
    """Refuse ``url`` unless it is http(s) on one of the ``allowed`` origins, without userinfo."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise OffOrigin("The provider address is not an http(s) URL.")
    if parts.username is not None or parts.password is not None:
        raise OffOrigin("The provider address carries credentials.")
    try:
        origin = origin_of(url)
    except ValueError:
        raise OffOrigin("The provider address has an invalid port.") from None
    if origin not in {origin_of(a) for a in allowed}:
        raise OffOrigin("The request would leave the provider's configured hosts.")


def _may_retry(attempt: int, attempts: int, budget: float | None) -> bool:
    """Another attempt is allowed, and its backoff still leaves time before the deadline."""
    if attempt + 1 >= attempts:
        return False
    wait = settings.OUTBOUND_BACKOFF * (2**attempt)
    return budget is None or time.monotonic() + wait + 0.1 < budget


def _retry_after(headers: Mapping[str, str]) -> int:
    raw = headers.get("Retry-After", "")
    try:
        return max(1, min(int(float(raw)), 3600))
    except ValueError:
        return 60


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), "")


def rate_limit_wait(
    status: int, headers: Mapping[str, str], content: bytes = b"", *, now: float | None = None
) -> int | None:
    """Seconds to wait when the answer is a rate limit, else None.

    A ``429`` always is. GitHub also answers ``403`` for both of its limits: the primary one with
    ``X-RateLimit-Remaining: 0`` (wait until ``X-RateLimit-Reset``, a Unix time), the secondary
    one with ``Retry-After`` or, without headers, a message naming it (wait a minute), as
    GitHub's REST documentation says to handle them."""
    if status not in {403, 429}:
        return None
    if _header(headers, "Retry-After"):
        return _retry_after({"Retry-After": _header(headers, "Retry-After")})
    if _header(headers, "X-RateLimit-Remaining") == "0":
        try:
            reset = float(_header(headers, "X-RateLimit-Reset"))
        except ValueError:
            return 60
        return max(1, min(int(reset - (time.time() if now is None else now)) + 1, 3600))
    if status == 429 or b"secondary rate limit" in content[:2000].lower():
        return 60
    return None


def request(
    method: str,
    url: str,
    *,
    origins: Collection[str],
    bearer: str | None = None,
    basic: tuple[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    data: bytes | Mapping[str, str] | None = None,
    json_body: object = None,
    content_type: str | None = None,
    idempotent: bool | None = None,
    retries: int | None = None,
    timeout: float | None = None,
    max_bytes: int | None = None,
    before_attempt: Callable[[], None] | None = None,
) -> Response:
    """One provider request on one of ``origins``. Returns the answer whatever its status
    (3xx included: redirects are never followed); raises :class:`OffOrigin`, :class:`Unreachable`,
    :class:`TooLarge` or :class:`RateLimited`.

    ``timeout`` bounds the whole answer (connect, headers and body) in seconds; by default the
    connect and read timeouts of the settings apply and ``OUTBOUND_TOTAL_TIMEOUT`` bounds the
    total. ``idempotent`` defaults from the method; only idempotent requests are retried, on
    network errors and 5xx. ``before_attempt`` runs before every attempt (retries included) and
    may raise to stop the request: the broker re-checks the person's grant there.
    """
    check_origin(url, origins)
    options = {
        "bearer": bearer, "basic": basic, "headers": headers, "params": params, "data": data,
        "json_body": json_body, "content_type": content_type, "idempotent": idempotent,
        "retries": retries, "timeout": timeout, "max_bytes": max_bytes,
        "before_attempt": before_attempt,
    }  # fmt: skip
    budget = _deadline.get()
    if budget is None:
        return _request(method, url, None, **options)
    slot = _slot(origin_of(url))
    if not slot.acquire(blocking=False):
        raise OverCapacity(
            "The service is slow to answer; the platform is not sending it more requests now.",
            retry_after=max(1, round(settings.BROKER_CALL_DEADLINE_SECONDS)),
        )
    try:
        return _request(method, url, budget, **options)
    finally:
        slot.release()


def _request(
    method: str,
    url: str,
    budget: float | None,
    *,
    bearer,
    basic,
    headers,
    params,
    data,
    json_body,
    content_type,
    idempotent,
    retries,
    timeout,
    max_bytes,
    before_attempt,
) -> Response:
    method = method.upper()
    sent = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate",
            "User-Agent": USER_AGENT}  # fmt: skip
    sent.update(headers or {})
    if bearer is not None:
        sent["Authorization"] = f"Bearer {bearer}"
    elif basic is not None:
        sent["Authorization"] = _basic(basic)
    body = None
    if data is not None:
        if isinstance(data, Mapping):
            body = urlencode(data, doseq=True).encode()
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        else:
            body = data.encode("utf-8") if isinstance(data, str) else data
    elif json_body is not None:
        body = json.dumps(json_body, allow_nan=False).encode()
        sent.setdefault("Content-Type", "application/json")
    if content_type:
        sent["Content-Type"] = content_type
    full_url = _with_params(url, params)
    if idempotent is None:
        idempotent = method in {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
    attempts = 1 + (
        (settings.OUTBOUND_RETRIES if retries is None else retries) if idempotent else 0
    )
    total = settings.OUTBOUND_TOTAL_TIMEOUT if timeout is None else timeout
    connect = min(settings.OUTBOUND_CONNECT_TIMEOUT, total)
    read = min(settings.OUTBOUND_READ_TIMEOUT, total)
    limit = settings.OUTBOUND_MAX_BYTES if max_bytes is None else max_bytes
    for attempt in range(attempts):
        if before_attempt is not None:
            before_attempt()
        started = time.perf_counter()
        if budget is not None:
            left = budget - time.monotonic()
            if left <= 0.05:
                raise Unreachable("The service did not answer within the call's deadline.")
            total = min(total, left)
            connect, read = min(connect, total), min(read, total)
        deadline = started + total
        try:
            answer = session().request(
                method,
                full_url,
                headers=sent,
                body=body,
                timeout=urllib3.Timeout(connect=connect, read=read),
                retries=False,
                redirect=False,
                preload_content=False,
            )
            try:
                declared = answer.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise TooLarge(
                        "The service's answer is larger than the platform accepts.",
                        status=answer.status,
                    )
                chunks, size = [], 0
                for chunk in answer.stream(64 * 1024, decode_content=True):
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(
                            "The service's answer is larger than the platform accepts.",
                            status=answer.status,
                        )
                    if time.perf_counter() > deadline:
                        raise Unreachable("The service did not answer in time.")
                    chunks.append(chunk)
            except BaseException:
                answer.close()  # not read to the end: the connection must not be reused
                raise
            finally:
                answer.release_conn()
            result = Response(
                status=answer.status,
                content=b"".join(chunks),
                content_type=answer.headers.get("Content-Type", ""),
                headers=dict(answer.headers),
                elapsed_ms=(time.perf_counter() - started) * 1000,
                url=url,
            )
        except urllib3.exceptions.TimeoutError:
            failure: OutboundError = Unreachable("The service did not answer in time.")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            failure = Unreachable(f"The service could not be reached ({type(exc).__name__}).")
        except Unreachable as exc:
            failure = exc
        else:
            wait = rate_limit_wait(result.status, result.headers, result.content)
            if wait is not None:
                raise RateLimited(
                    "The service is rate-limiting the platform.",
                    retry_after=wait,
                    headers={"Retry-After": str(wait)},
                )
            if result.status >= 500 and _may_retry(attempt, attempts, budget):
                time.sleep(settings.OUTBOUND_BACKOFF * (2**attempt))
                continue
            return result
        if _may_retry(attempt, attempts, budget):
            time.sleep(settings.OUTBOUND_BACKOFF * (2**attempt))
            continue
        raise failure
    raise AssertionError("unreachable")  # pragma: no cover
