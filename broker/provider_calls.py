"""Talking to the provider for an allowed call: the URL, the vault token, one retry after a 401,
and turning the answer into the broker's result.

The answer is read by the operation's declaration (``connections.providers.operations``: status,
Slack's ``ok: false``, pagination, the selection filter) and refresh-then-retry by
``connections.providers.answers.with_refresh``, shared with the consent screen's listing; this
module only orchestrates them and turns what they say into broker errors.
"""

from __future__ import annotations

from broker import exceptions, gateway, upstream
from broker.policy import CallFacts, check_resource
from broker.records import BrokerResult, refusal_error
from broker.selectors import grant_still_live
from connections.providers import answers
from connections.providers.operations import AnswerError, BadPage, Operation


def _interpret(operation: Operation, response: upstream.UpstreamResponse):
    """The provider's answer, read by its operation (``Operation.read``), or a broker error
    naming only the status (no provider body)."""
    try:
        return operation.read(response.status, response.json)
    except AnswerError as exc:
        if exc.kind == "not_found":
            raise exceptions.NotFound(exc.message, upstream_status=exc.status) from None
        raise exceptions.UpstreamError(exc.message, upstream_status=exc.status) from None


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
        if response.status == 401 or (
            method is None and operation.rejects_token(response.status, response.json_or_none)
        ):
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
        if response.status != 200:
            _interpret(operation, response)  # a 404 or an error status: the provider's error
            raise exceptions.UpstreamError(
                f"The {operation.service} service answered with status {response.status}.",
                upstream_status=response.status,
            )
        parents = check.parents(response.json_or_none())
        file_id = next(iter(params.values()), "")
        refusal, _ = check_resource(
            gfacts,
            CallFacts(
                scope=operation.scope,
                resource_kind="folder",
                resource=file_id,
                resource_parents=parents,
            ),
        )
        record.resource = f"file:{file_id}"[:200]
        if refusal is not None:
            raise refusal_error(refusal)

    try:
        upstream_query = operation.query(params, query.get("page"), query.get("page_size"))
    except BadPage as exc:
        raise exceptions.InvalidRequest(str(exc)) from None
    url = upstream.build_url(
        base, operation.upstream_path, params, path_params=operation.path_params,
        query=upstream_query,
    )  # fmt: skip
    data = content_type = json_body = None
    if operation.is_write:
        payload = operation.body(body, params)
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
    try:
        payload = _interpret(operation, response)
    except answers.AuthRejected:  # pragma: no cover - _send retried already
        raise exceptions.ConnectionNeedsReauthorization(
            url=gateway.reconnect_url(connection)
        ) from None
    status = 201 if operation.is_write else 200
    if operation.raw_response:
        ctype = response.content_type.split(";")[0].strip() or "application/octet-stream"
        if ctype in {"text/html", "application/xhtml+xml", "image/svg+xml"}:
            ctype = "application/octet-stream"  # never let provider content run on our origin
        return BrokerResult(status=200, content=response.content, content_type=ctype)
    if operation.is_list:
        return BrokerResult(
            status=200,
            data={
                "items": operation.items(payload, selected),
                "next_page": operation.next_page(response.headers, payload),
            },
        )
    return BrokerResult(status=status, data={"data": operation.data(payload)})
