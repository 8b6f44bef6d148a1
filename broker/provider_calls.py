"""Talking to the provider for an allowed call: the URL, the vault token, one retry after a 401,
and reading the answer (status, Slack's ``ok``, pagination, the selection filter).

Reading the answer's dialect (Slack's ``ok: false``, Link and cursor paging, refresh-then-retry)
is written once in ``connections.providers.answers``, shared with the consent screen's listing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from broker import exceptions, gateway, upstream
from broker.adapters.base import Operation
from broker.policy import CallFacts, canonical_resource, check_resource
from broker.records import BrokerResult, refusal_error
from broker.selectors import grant_still_live
from connections.providers import answers

_dig = answers.dig


def _next_page(operation: Operation, response: upstream.UpstreamResponse, data: Any) -> str | None:
    pagination = operation.pagination
    if pagination is None:
        return None
    if pagination.next_from == "link":
        url = answers.next_link(response.headers)
        page = parse_qs(urlsplit(url).query).get(pagination.page_param) if url else None
        return page[0] if page and page[0].isdigit() else None
    value = _dig(data, pagination.next_from)
    return value if isinstance(value, str) and value else None


def _upstream_query(operation: Operation, params: dict, query: dict) -> dict:
    out = {k: v.format(**params) for k, v in operation.upstream_query.items()}
    pagination = operation.pagination
    if pagination is not None:
        page = query.get("page")
        size = query.get("page_size")
        if page:
            page = str(page)
            if len(page) > 512 or (pagination.next_from == "link" and not page.isdigit()):
                raise exceptions.InvalidRequest("page is not a valid page cursor.")
            out[pagination.page_param] = page
        if size:
            if not str(size).isdigit() or not 1 <= int(size) <= pagination.max_size:
                raise exceptions.InvalidRequest(
                    f"page_size must be a whole number from 1 to {pagination.max_size}."
                )
            out[pagination.size_param] = str(int(size))
    return out


def _interpret(operation: Operation, response: upstream.UpstreamResponse):
    """Provider status -> data, or a broker error naming only the status (no provider body)."""
    if response.status == 404:
        raise exceptions.NotFound("The service found nothing at this address.", upstream_status=404)
    if not 200 <= response.status < 300:
        raise exceptions.UpstreamError(
            f"The {operation.service} service answered with status {response.status}.",
            upstream_status=response.status,
        )
    if operation.raw_response:
        return None
    try:
        data = response.json()
    except ValueError:
        raise exceptions.UpstreamError(
            "The service's answer was not valid JSON.", upstream_status=response.status
        ) from None
    error = answers.ok_false_error("slack", data) if operation.ok_key else None
    if error:
        if error in answers.SLACK_NOT_FOUND:
            raise exceptions.NotFound("The service found no such channel.", upstream_status=200)
        if error in answers.SLACK_AUTH_ERRORS:
            return _SLACK_AUTH
        raise exceptions.UpstreamError(
            "The slack service refused the request.", upstream_status=response.status
        )
    return data


_SLACK_AUTH = object()  # Slack's way of saying 401


def _send(*, operation, connection, url, data, content_type, json_body, record, guard, method=None):
    """Call with a vault token; on a provider 401 refresh once (naming the rejected token, so a
    second request of the same call reuses the new one) and retry once (``answers.with_refresh``,
    the same rule the consent screen's listing follows). ``guard`` runs before every request
    that goes out (the outbound client's retries and the retry after a 401 included): it
    re-checks the grant, so a revocation stops a call already under way (issue 12 item 7)."""

    def use(token: str):
        response = upstream.call(
            method or operation.http_method,
            url,
            token=token,
            idempotent=operation.idempotent if method is None else True,
            data=data,
            content_type=content_type,
            json_body=json_body,
            before_attempt=guard,
        )
        record.upstream_status = response.status
        record.upstream_ms = (record.upstream_ms or 0) + response.elapsed_ms
        unauthorized = response.status == 401
        if operation.ok_key and response.status == 200 and method is None:
            try:
                unauthorized = _interpret(operation, response) is _SLACK_AUTH
            except exceptions.BrokerError:
                return response
        if unauthorized:
            raise answers.AuthRejected()
        return response

    def rejected(token: str):
        # Refreshed once and still refused: say so (502), and remember it so the next call
        # does not rotate the refresh token again.
        gateway.token_rejected(connection, token=token)
        return exceptions.UpstreamTokenRejected()

    return answers.with_refresh(
        lambda rejected_token: gateway.access_token(connection, rejected_token=rejected_token),
        use,
        on_rejected=rejected,
    )


def perform(
    *, operation, grant, gfacts, connection, provider, params, query, body, record,
    recheck_first: bool = False,
) -> BrokerResult:  # fmt: skip
    """Call the provider for an allowed (not pending) operation and shape the answer.
    ``recheck_first``: read the grant again before the first request too (an approved write
    performed a while after the approval)."""
    params = operation.canonical_params(params)
    attempts = 0

    def guard():
        # The first request follows the grant read with the token a moment ago in this same
        # request; every later one (retries, the retry after a 401, Drive's second request)
        # reads the grant again.
        nonlocal attempts
        attempts += 1
        if attempts > 1 or recheck_first:
            grant_still_live(grant)

    base = provider.api_base_url
    selected = gfacts.resources.get(operation.scope, frozenset())
    if operation.parent_check is not None:
        check = operation.parent_check
        url = upstream.build_url(base, check.path, params, query=dict(check.query))
        response = _send(
            operation=operation,
            connection=connection,
            url=url,
            data=None,
            content_type=None,
            json_body=None,
            record=record,
            guard=guard,
            method="GET",
        )
        if response.status == 404:
            raise exceptions.NotFound(
                "The service found nothing at this address.", upstream_status=404
            )
        if response.status != 200:
            raise exceptions.UpstreamError(
                f"The {operation.service} service answered with status {response.status}.",
                upstream_status=response.status,
            )
        try:
            parents = response.json().get(check.parents_key) or []
        except (ValueError, AttributeError):
            parents = []
        file_id = next(iter(params.values()), "")
        refusal, _ = check_resource(
            gfacts,
            CallFacts(
                scope=operation.scope,
                resource_kind="folder",
                resource=file_id,
                resource_parents=tuple(str(p) for p in parents if isinstance(p, str)),
            ),
        )
        record.resource = f"file:{file_id}"[:200]
        if refusal is not None:
            raise refusal_error(refusal)

    url = upstream.build_url(
        base,
        operation.upstream_path,
        params,
        path_params=operation.path_params,
        query=_upstream_query(operation, params, query),
    )
    data = content_type = json_body = None
    if operation.is_write:
        payload = dict(body or {})
        payload.update({k: v.format(**params) for k, v in operation.body_from_route.items()})
        if operation.encode_body:
            data, content_type = operation.encode_body(payload)
        else:
            json_body = payload
    response = _send(
        operation=operation,
        connection=connection,
        url=url,
        data=data,
        content_type=content_type,
        json_body=json_body,
        record=record,
        guard=guard,
    )
    payload = _interpret(operation, response)
    if payload is _SLACK_AUTH:  # pragma: no cover - _send retried already
        raise exceptions.ConnectionNeedsReauthorization(url=gateway.reconnect_url(connection))
    status = 201 if operation.is_write else 200
    if operation.raw_response:
        ctype = response.content_type.split(";")[0].strip() or "application/octet-stream"
        if ctype in {"text/html", "application/xhtml+xml", "image/svg+xml"}:
            ctype = "application/octet-stream"  # never let provider content run on our origin
        return BrokerResult(status=200, content=response.content, content_type=ctype)
    if operation.list_filter is not None or operation.pagination is not None:
        items = payload
        if operation.list_filter is not None:
            items = _dig(payload, operation.list_filter.items_key)
        elif isinstance(payload, dict):
            items = payload.get("messages", payload.get("items", []))
        if not isinstance(items, list):
            items = []
        if operation.list_filter is not None:
            items = [i for i in items if _selected(operation, i, selected)]
        return BrokerResult(
            status=200,
            data={"items": items, "next_page": _next_page(operation, response, payload)},
        )
    if isinstance(payload, dict) and operation.ok_key:
        payload = {k: v for k, v in payload.items() if k not in {operation.ok_key, "warning"}}
    return BrokerResult(status=status, data={"data": payload})


def _selected(operation: Operation, item: Any, selected: frozenset[str]) -> bool:
    if not isinstance(item, dict):
        return False
    ids = operation.list_filter.id_of(item)
    kind = operation.resource_kind or ""
    return any(canonical_resource(kind, i) in selected for i in ids if isinstance(i, str))
