"""The brokered call: load the facts, ask :mod:`broker.policy`, call the provider, record it.

Views only translate HTTP to :func:`broker_call` and back. Every call that got as far as a known
app is recorded (``Action.API_CALL``) with app, person, grant, scope, service, operation,
resource, background flag, outcome, upstream status and latency; never a body or a token.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.db import router, transaction
from django.utils import timezone
from oauth2_provider.settings import oauth2_settings

from apps_registry.audience import API as API_AUDIENCE
from apps_registry.audience import audience_allows, resource_uri
from audit.actions import Action, ActorType, Outcome
from audit.services import record_event
from broker import exceptions, gateway, upstream
from broker.adapters.base import Operation
from broker.policy import (
    CallFacts,
    ConnectionFacts,
    Decision,
    GrantFacts,
    TokenFacts,
    canonical_resource,
    decide,
)
from broker.ratelimit import limiter

GRANT_HEADER = "HTTP_PLATFORM_GRANT"


# --- loading the facts ------------------------------------------------------------------------


# What a call reads from the token, its client, app and person: the rest of these wide rows
# (secrets, redirect URIs, descriptions, password hash...) is never needed on the hot path.
_TOKEN_ONLY = (
    "id", "user_id", "source_refresh_token_id", "application_id", "expires", "scope", "created",
    "resource",
    "user__id", "user__email", "user__name",
    "application__id", "application__app__id", "application__app__client_id",
    "application__app__name", "application__app__suspended_at",
)  # fmt: skip
_GRANT_ALIAS = "broker_grant"


def _token_queryset():
    """The token with its client, app, person and (for a person's token) the grant of that
    person and app, as it is now: one query. Grants are unique per (person, app), so the join
    adds at most one row."""
    from django.db.models import F, FilteredRelation, Q
    from oauth2_provider.models import get_access_token_model

    return (
        get_access_token_model()
        .objects.annotate(
            **{
                _GRANT_ALIAS: FilteredRelation(
                    "application__app__grants",
                    condition=Q(application__app__grants__user=F("user")),
                )
            }
        )
        .select_related("application__app", "user", _GRANT_ALIAS)
        .only(*_TOKEN_ONLY)  # the grant's own fields are all loaded
    )


class _CompiledQuery:
    """A one-parameter ORM query compiled once per database and run with new values.

    Building and compiling the token query (four joins and a filtered relation) was the largest
    single cost of a brokered call; its SQL never changes, only the checksum. The rows are turned
    into model instances exactly as Django's own ``ModelIterable`` does (same converters,
    ``from_db`` and related populators), so the result is what ``list(queryset)`` would give.
    """

    _MARK = "\x00broker-compiled-query-parameter\x00"

    def __init__(self, build):
        self._build = build
        self._compiled: dict[tuple[str, str], tuple] = {}
        self._lock = threading.Lock()

    def _compile(self, db: str) -> tuple:
        from django.db.models.query import get_related_populators

        queryset = self._build(self._MARK)
        compiler = queryset.query.get_compiler(using=db)
        sql, params = compiler.as_sql()
        params = list(params)
        if params.count(self._MARK) != 1:  # pragma: no cover - the query has one parameter
            raise RuntimeError("the compiled query must have exactly one parameter")
        klass_info, select = compiler.klass_info, compiler.select
        first, last = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        return (
            sql,
            params,
            params.index(self._MARK),
            list(compiler.get_converters([col for col, _, _ in select]).items()),
            klass_info["model"],
            (first, last),
            [col.target.attname for col, _, _ in select[first:last]],
            get_related_populators(klass_info, select, db),
            compiler.annotation_col_map,
        )

    def first(self, value, *, db: str = "default"):
        from django.db import connections

        connection = connections[db]
        key = (db, connection.vendor)
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.setdefault(key, self._compile(db))
        sql, params, index, converters, model, (first, last), init_list, populators, annotations = (
            compiled
        )
        params = list(params)
        params[index] = value
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        for pos, (convs, expression) in converters:
            for converter in convs:
                row[pos] = converter(row[pos], expression, connection)
        obj = model.from_db(db, init_list, row[first:last])
        for populator in populators:
            populator.populate(row, obj)
        for name, pos in (annotations or {}).items():
            setattr(obj, name, row[pos])
        return obj


_TOKEN_QUERY = _CompiledQuery(
    lambda checksum: _token_queryset().filter(token_checksum=checksum)[:1]
)


def token_authenticate(*, request, audience: str = API_AUDIENCE) -> Any:
    """The DOT AccessToken named by ``Authorization: Bearer``, looked up by checksum, if its
    RFC 8707 audience includes ``audience`` (``apps_registry.audience``: the REST API, or the
    MCP endpoint).

    The grant it acts for (person tokens) is loaded in the same query and kept on the token for
    :func:`grant_for_token`."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, raw = header.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw or len(raw) > 512:
        raise exceptions.InvalidToken()
    checksum = hashlib.sha256(raw.encode()).hexdigest()
    from oauth2_provider.models import get_access_token_model

    token = _TOKEN_QUERY.first(checksum, db=router.db_for_read(get_access_token_model()))
    if token is None or token.is_expired() or token.application is None:
        raise exceptions.InvalidToken()
    if getattr(token.application, "app", None) is None:
        raise exceptions.InvalidToken("This token belongs to no registered app.")
    if oauth2_settings.DCR_REGISTRATION_SCOPE in token.scope.split():
        # RFC 7592's registration access token manages a registration; it calls nothing.
        raise exceptions.InvalidToken()
    if not audience_allows(token.resource, audience, request):
        raise exceptions.InvalidToken(
            "This token was issued for another resource (its RFC 8707 audience): ask for one "
            f"with resource={resource_uri(request, audience)}."
        )
    return token


def grant_for_token(*, token, request):
    """The grant this token acts for, as it is now; None if there is none."""
    from consent.models import Grant

    app = token.application.app
    if token.user_id is not None:
        # Loaded with the token (same query, so as current as a second query would be).
        grant = getattr(token, _GRANT_ALIAS, None)
        if grant is None or grant.pk is None:
            return None
        if grant.user_id != token.user_id or grant.app_id != app.pk:  # pragma: no cover
            raise exceptions.InvalidToken("This token cannot act for that grant.")
        grant.app = app
        grant.user = token.user
        return grant
    raw = request.META.get(GRANT_HEADER, "").strip()
    if not raw.isdigit() or len(raw) > 18:
        raise exceptions.InvalidToken(
            "A client-credentials token must name the grant it acts for in the Platform-Grant "
            "header."
        )
    grant = Grant.objects.select_related("user").filter(pk=int(raw)).first()
    if grant is None or grant.app_id != app.pk:
        raise exceptions.InvalidToken("This token cannot act for that grant.")
    grant.app = app
    return grant


def token_facts(token) -> TokenFacts:
    return TokenFacts(
        scopes=frozenset(token.scope.split()),
        issued_at=token.created,
        expires_at=token.expires,
        from_refresh=token.source_refresh_token_id is not None,
        client_credentials=token.user_id is None,
    )


def grant_facts(grant, *, only_scope: str | None = None) -> GrantFacts:
    """The grant as plain facts. ``only_scope`` limits the (canonicalised) selection to the one
    scope a call uses, so a call's cost does not grow with the person's other selections."""
    from consent.catalog import get_scope

    resources = {}
    for scope_name, items in (grant.resources or {}).items():
        if only_scope is not None and scope_name != only_scope:
            continue
        scope = get_scope(scope_name)
        if scope is None or scope.resource_kind is None:
            continue
        ids = {canonical_resource(scope.resource_kind, item.get("id")) for item in items or ()}
        resources[scope_name] = frozenset(ids - {None})
    return GrantFacts(
        scopes=frozenset(grant.scopes or ()),
        resources=resources,
        revoked=grant.revoked_at is not None,
        expires_at=grant.expires_at,
        app_suspended=grant.app.suspended_at is not None,
    )


def connection_for(*, grant, service: str):
    connection_id = (grant.connections or {}).get(service)
    if connection_id is None:
        return None, None
    try:
        # One read for the checks here and the vault's token (the broker never reads the
        # token fields itself; the vault does, from this same row).
        connection = gateway.load_connection(int(connection_id))
    except (TypeError, ValueError):
        return None, None
    if connection is None:
        return None, None
    return connection, gateway.provider_info(connection.provider)


def connection_facts(connection, provider, grant) -> ConnectionFacts | None:
    if connection is None or provider is None:
        return None
    return ConnectionFacts(
        service=provider.service,
        active=connection.is_active,
        owned_by_grant_user=connection.user_id == grant.user_id,
    )


# --- the call ---------------------------------------------------------------------------------


@dataclass
class CallRecord:
    """What the audit row says about one call (filled in as the call proceeds)."""

    operation: str
    scope: str = ""
    service: str = ""
    resource: str = ""
    background: bool | None = None
    outcome: str = Outcome.SUCCESS
    reason: str = ""
    status: int = 200
    upstream_status: int | None = None
    upstream_ms: float | None = None
    started: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True, slots=True)
class BrokerResult:
    status: int
    data: Any = None
    content: bytes | None = None
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)


def _record(*, record: CallRecord, token, grant, request) -> None:
    app = token.application.app
    metadata = {
        "operation": record.operation,
        "status": record.status,
        "latency_ms": round((time.perf_counter() - record.started) * 1000, 1),
    }
    if record.upstream_status is not None:
        metadata["upstream_status"] = record.upstream_status
    if record.upstream_ms is not None:
        metadata["upstream_latency_ms"] = round(record.upstream_ms, 1)
    record_event(
        Action.API_CALL,
        actor_type=ActorType.APP,
        app=app,
        grant=grant,
        subject_user=grant.user if grant is not None else token.user,
        service=record.service,
        scope=record.scope,
        resource=record.resource,
        outcome=record.outcome,
        reason=record.reason,
        background=record.background,
        request=request,
        metadata=metadata,
    )


# "Last used" is shown to people to the minute; writing it on every call would add a commit
# (an fsync on PostgreSQL) to each call for nothing they can see.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def _touch(grant, connection) -> None:
    """Mark grant and connection used: skipped when the value just read is recent, otherwise
    one conditional UPDATE (so concurrent calls write it once), in autocommit, no extra commit
    when nothing changes."""
    from django.db.models import Q

    now = timezone.now()
    stale = now - LAST_USED_RESOLUTION
    for row in (grant, connection):
        if row is None:
            continue
        if row.last_used_at is None or row.last_used_at <= stale:
            type(row).objects.filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale), pk=row.pk
            ).update(last_used_at=now)
            row.last_used_at = now


def _refuse(decision: Decision) -> exceptions.BrokerError:
    refusal = decision.refusal
    cls = exceptions.REFUSALS[refusal.code]
    return cls(refusal.message, **dict(refusal.details))


def _session_window() -> timedelta:
    return settings.SESSION_GRANT_WINDOW


def broker_call(
    *,
    request,
    operation: Operation | None,
    scope: str | None,
    name: str = "",
    params: dict | None = None,
    query: dict | None = None,
    body: dict | None = None,
    handler=None,
    audience: str = API_AUDIENCE,
) -> BrokerResult:
    """Run one brokered call end to end. ``operation`` is a provider operation, or None with a
    ``handler(token, grant, decision)`` for the platform's own endpoints (/me). ``audience``
    names the protected resource the call came through (the REST API, or /mcp)."""
    token = token_authenticate(request=request, audience=audience)
    name = operation.name if operation else name
    record = CallRecord(
        operation=name, scope=scope or "", service=operation.service if operation else ""
    )
    grant = connection = None
    try:
        grant = grant_for_token(token=token, request=request)
        facts = token_facts(token)
        record.background = (
            facts.client_credentials
            or facts.from_refresh
            or (timezone.now() - facts.issued_at > _session_window())
        )
        if grant is not None:
            rl = limiter()
            rl.hit("app", token.application.app.pk)
            rl.hit("grant", grant.pk)
        provider = None
        if operation is not None and grant is not None:
            connection, provider = connection_for(grant=grant, service=operation.service)
        call = CallFacts(
            scope=scope,
            service=operation.service if operation else None,
            is_write=operation.is_write if operation else False,
            resource_kind=operation.resource_kind if operation else None,
            resource=operation.resource_of(params or {}) if operation else None,
        )
        now = timezone.now()
        gfacts = grant_facts(grant, only_scope=scope) if grant is not None else None
        decision = decide(
            token=facts,
            grant=gfacts,
            connection=connection_facts(connection, provider, grant) if grant else None,
            call=call,
            now=now,
            session_window=_session_window(),
        )
        record.background = decision.background
        record.resource = decision.resource or (call.resource or "")[:200]
        if not decision.allowed:
            error = _refuse(decision)
            if isinstance(error, exceptions.ConnectionNeedsReauthorization):
                own = connection if connection and connection.user_id == grant.user_id else None
                error.details["url"] = gateway.reconnect_url(own, scope=scope or "")
            raise error
        if operation is None:
            result = handler(token=token, grant=grant, decision=decision)
        else:
            validated = validate_body(operation, body) if operation.is_write else None
            if decision.pending:
                result = pending_action_create(
                    operation=operation,
                    grant=grant,
                    params=operation.canonical_params(params or {}),
                    body=validated or {},
                    resource=decision.resource,
                    background=decision.background,
                )
                record.outcome = Outcome.PENDING
            else:
                result = perform(
                    operation=operation,
                    grant=grant,
                    gfacts=gfacts,
                    connection=connection,
                    provider=provider,
                    params=params or {},
                    query=query or {},
                    body=validated,
                    record=record,
                )
        record.status = result.status
        return result
    except exceptions.BrokerError as exc:
        url = exc.details.get("url")
        if isinstance(url, str) and url.startswith("/"):
            exc.details["url"] = request.build_absolute_uri(url)
        record.outcome = (
            Outcome.FAILURE
            if exc.code.startswith("upstream") or exc.code == "not_found"
            else Outcome.DENIED
        )
        record.reason = exc.code
        record.status = exc.status_code
        raise
    finally:
        if grant is not None and record.outcome != Outcome.DENIED:
            # The vault marks the connection used whenever it hands out its token.
            _touch(grant, connection if record.upstream_status is None else None)
        _record(record=record, token=token, grant=grant, request=request)


def validate_body(operation: Operation, body: Any) -> dict:
    if not isinstance(body, dict):
        raise exceptions.InvalidRequest("The request body must be a JSON object.")
    out: dict = {}
    errors: dict[str, str] = {}
    for spec in operation.body_fields:
        value = body.get(spec.name)
        if value is None:
            if spec.required:
                errors[spec.name] = "This field is required."
            continue
        if not isinstance(value, spec.kind):
            errors[spec.name] = f"Must be a {spec.kind.__name__}."
        elif isinstance(value, str) and len(value) > spec.max_length:
            errors[spec.name] = f"At most {spec.max_length} characters."
        elif isinstance(value, str) and spec.required and not value.strip():
            errors[spec.name] = "Must not be blank."
        else:
            out[spec.name] = value
    unknown = sorted(set(body) - {f.name for f in operation.body_fields})
    for key in unknown[:10]:
        errors[str(key)[:64]] = "Unknown field."
    if errors:
        raise exceptions.InvalidRequest("The request body is invalid.", fields=errors)
    return out


# --- talking to the provider ------------------------------------------------------------------


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _next_page(operation: Operation, response: upstream.UpstreamResponse, data: Any) -> str | None:
    pagination = operation.pagination
    if pagination is None:
        return None
    if pagination.next_from == "link":
        link = response.headers.get("Link", "")
        for part in link.split(","):
            if 'rel="next"' in part and "<" in part:
                url = part[part.index("<") + 1 : part.index(">")]
                page = parse_qs(urlsplit(url).query).get(pagination.page_param)
                return page[0] if page and page[0].isdigit() else None
        return None
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
    if operation.ok_key and isinstance(data, dict) and data.get(operation.ok_key) is not True:
        error = data.get("error")
        if error in {"channel_not_found", "not_in_channel"}:
            raise exceptions.NotFound("The service found no such channel.", upstream_status=200)
        if error in {"invalid_auth", "token_revoked", "token_expired", "not_authed"}:
            return _SLACK_AUTH
        raise exceptions.UpstreamError(
            "The slack service refused the request.", upstream_status=response.status
        )
    return data


_SLACK_AUTH = object()  # Slack's way of saying 401


def _send(*, operation, connection, url, data, content_type, json_body, record, method=None):
    """Call with a vault token; on a provider 401 refresh once (naming the rejected token, so a
    second request of the same call reuses the new one) and retry once."""
    rejected = None
    for _attempt in range(2):
        token = gateway.access_token(connection, rejected_token=rejected)
        response = upstream.call(
            method or operation.http_method,
            url,
            token=token,
            idempotent=operation.idempotent if method is None else True,
            data=data,
            content_type=content_type,
            json_body=json_body,
        )
        record.upstream_status = response.status
        record.upstream_ms = (record.upstream_ms or 0) + response.elapsed_ms
        unauthorized = response.status == 401
        if operation.ok_key and response.status == 200 and method is None:
            try:
                unauthorized = _interpret(operation, response) is _SLACK_AUTH
            except exceptions.BrokerError:
                return response
        if not unauthorized:
            return response
        rejected = token
        del token
    # Refreshed once and still refused: say so (502), and remember it so the next call does not
    # rotate the refresh token again.
    gateway.token_rejected(connection, token=rejected)
    raise exceptions.UpstreamTokenRejected()


def perform(
    *, operation, grant, gfacts, connection, provider, params, query, body, record
) -> BrokerResult:
    """Call the provider for an allowed (not pending) operation and shape the answer."""
    params = operation.canonical_params(params)
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
        decision = decide(
            token=TokenFacts(
                scopes=gfacts.scopes,
                issued_at=timezone.now(),
                expires_at=timezone.now() + timedelta(seconds=60),
            ),
            grant=gfacts,
            connection=None,
            call=CallFacts(
                scope=operation.scope,
                resource_kind="folder",
                resource=file_id,
                resource_parents=tuple(str(p) for p in parents if isinstance(p, str)),
            ),
            now=timezone.now(),
            session_window=_session_window(),
        )
        record.resource = f"file:{file_id}"[:200]
        if not decision.allowed:
            raise _refuse(decision)

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


# --- pending writes ---------------------------------------------------------------------------


def _summary(operation: Operation, resource: str, body: dict) -> str:
    return f"{operation.summary}: {resource}"[:500]


def pending_action_create(*, operation, grant, params, body, resource, background) -> BrokerResult:
    from consent.models import PendingAction

    now = timezone.now()
    with transaction.atomic():
        action = PendingAction.objects.create(
            grant=grant,
            operation=operation.name,
            service=operation.service,
            scope=operation.scope,
            resource=resource,
            summary=_summary(operation, resource, body),
            params=params,
            body=body,
            expires_at=now + settings.BROKER_PENDING_ACTION_TTL,
        )
        record_event(
            Action.PENDING_ACTION_CREATED,
            actor_type=ActorType.APP,
            grant=grant,
            service=operation.service,
            scope=operation.scope,
            resource=resource,
            outcome=Outcome.PENDING,
            background=background,
            metadata={"operation": operation.name, "pending_action": action.pk},
        )
    return BrokerResult(status=202, data={"pending_action": pending_action_view(action)})


def pending_action_view(action) -> dict:
    from django.urls import reverse

    status = action.status
    if status == action.Status.PENDING and action.expires_at <= timezone.now():
        status = action.Status.EXPIRED
    view = {
        "id": action.pk,
        "status": status,
        "status_url": reverse("broker:action", args=[action.pk]),
        "operation": action.operation,
        "service": action.service,
        "resource": action.resource,
        "created_at": action.created_at.isoformat(),
        "expires_at": action.expires_at.isoformat(),
    }
    if status in {action.Status.SUCCEEDED, action.Status.FAILED}:
        view["result"] = {
            "upstream_status": action.result_status,
            "data": action.result if status == action.Status.SUCCEEDED else None,
            "error": action.error_code or None,
        }
    return view


def pending_action_perform(*, action_id: int) -> str:
    """Perform an approved pending action exactly once; return its final status.

    The row is locked and claimed (``executed_at`` set) in one transaction before the provider is
    called, so a second signal, a double click or a retried task finds it claimed and does
    nothing. An action past its expiry is marked expired and never performed.
    """
    from consent.models import PendingAction

    with transaction.atomic():
        action = (
            PendingAction.objects.select_for_update()
            .select_related("grant__app", "grant__user")
            .filter(pk=action_id)
            .first()
        )
        if action is None:
            return "missing"
        if action.status != PendingAction.Status.APPROVED or action.executed_at is not None:
            return action.status
        now = timezone.now()
        if action.expires_at <= now:
            action.status = PendingAction.Status.EXPIRED
            action.save(update_fields=["status"])
            record_event(
                Action.PENDING_ACTION_EXPIRED,
                grant=action.grant,
                service=action.service,
                scope=action.scope,
                resource=action.resource,
                outcome=Outcome.FAILURE,
                reason="expired before it was performed",
                metadata={"pending_action": action.pk},
            )
            return action.status
        action.executed_at = now
        action.save(update_fields=["executed_at"])

    from broker.adapters import OPERATIONS

    operation = OPERATIONS.get(action.operation)
    grant = action.grant
    record = CallRecord(operation=action.operation, scope=action.scope, service=action.service)
    record.resource = action.resource
    record.background = False
    status, result, error, upstream_status = PendingAction.Status.FAILED, None, "", None
    connection = None
    try:
        if operation is None:
            raise exceptions.InvalidRequest("unknown operation")
        gfacts = grant_facts(grant)
        connection, provider = connection_for(grant=grant, service=operation.service)
        decision = decide(
            token=TokenFacts(
                scopes=gfacts.scopes, issued_at=now, expires_at=now + timedelta(minutes=1)
            ),
            grant=gfacts,
            connection=connection_facts(connection, provider, grant),
            call=CallFacts(
                scope=operation.scope,
                service=operation.service,
                is_write=True,
                resource_kind=operation.resource_kind,
                resource=operation.resource_of(action.params),
            ),
            now=now,
            session_window=_session_window(),
        )
        if not decision.allowed:
            raise _refuse(decision)
        outcome = perform(
            operation=operation,
            grant=grant,
            gfacts=gfacts,
            connection=connection,
            provider=provider,
            params=dict(action.params),
            query={},
            body=dict(action.body),
            record=record,
        )
        status, result = PendingAction.Status.SUCCEEDED, (outcome.data or {}).get("data")
        upstream_status = record.upstream_status
    except exceptions.BrokerError as exc:
        error, upstream_status = exc.code, record.upstream_status
        record.outcome, record.reason = Outcome.FAILURE, exc.code
    with transaction.atomic():
        PendingAction.objects.filter(pk=action.pk).update(
            status=status, result=result, result_status=upstream_status, error_code=error
        )
        record_event(
            Action.PENDING_ACTION_EXECUTED,
            grant=grant,
            service=action.service,
            scope=action.scope,
            resource=action.resource,
            outcome=Outcome.SUCCESS
            if status == PendingAction.Status.SUCCEEDED
            else Outcome.FAILURE,
            reason=error,
            background=False,
            metadata={
                "pending_action": action.pk,
                "operation": action.operation,
                "upstream_status": upstream_status,
            },
        )
        if status == PendingAction.Status.SUCCEEDED:
            _touch(grant, connection)
    return status


def body_for_display(body: dict) -> str:
    """The request body rendered readably (for the approvals page, should consent want it)."""
    return json.dumps(body, indent=2, ensure_ascii=False, sort_keys=True)


# --- background jobs --------------------------------------------------------------------------


def job_check(*, request, job_id: str, grant_id: int, scopes: list[str]) -> dict:
    """``may job J run for grant G with these scopes now?`` for an app backend (client
    credentials). Registers or updates the job, records the check, returns allow/deny + reason."""
    from broker.models import BackgroundJob
    from broker.policy import check_job
    from consent.models import Grant

    token = token_authenticate(request=request)
    if token.user_id is not None:
        raise exceptions.InvalidToken(
            "Job checks are made by the app's backend with a client-credentials token."
        )
    app = token.application.app
    limiter().hit("app", app.pk)
    grant = Grant.objects.select_related("user").filter(pk=grant_id, app_id=app.pk).first()
    if grant is not None:
        grant.app = app
    now = timezone.now()
    result = check_job(
        grant=grant_facts(grant) if grant is not None else None,
        scopes=frozenset(scopes),
        now=now,
    )
    if grant is not None:
        status = BackgroundJob.Status.ALLOWED if result.allowed else BackgroundJob.Status.DENIED
        with transaction.atomic():
            BackgroundJob.objects.update_or_create(
                grant=grant,
                job_id=job_id,
                defaults={
                    "scopes": sorted(set(scopes)),
                    "status": status,
                    "reason": result.reason,
                    "last_checked_at": now,
                },
            )
    record_event(
        Action.BACKGROUND_JOB_CHECKED,
        actor_type=ActorType.APP,
        app=app,
        grant=grant,
        outcome=Outcome.SUCCESS if result.allowed else Outcome.DENIED,
        reason=result.reason,
        background=True,
        request=request,
        metadata={"job": job_id[:200], "scopes": sorted(set(scopes))[:20]},
    )
    return {
        "job": job_id,
        "grant": grant_id,
        "allowed": result.allowed,
        "decision": "allow" if result.allowed else "deny",
        "reason": result.reason,
        "checked_at": now.isoformat(),
    }


def background_jobs_recheck(*, batch_size: int = 500) -> int:
    """Recheck every job that is still allowed; mark those that lost permission. Returns how
    many were marked."""
    from broker.models import BackgroundJob
    from broker.policy import check_job

    marked = 0
    now = timezone.now()
    jobs = (
        BackgroundJob.objects.filter(status=BackgroundJob.Status.ALLOWED)
        .select_related("grant__app", "grant__user")
        .order_by("pk")
    )
    for job in jobs.iterator(chunk_size=batch_size):
        result = check_job(grant=grant_facts(job.grant), scopes=frozenset(job.scopes), now=now)
        if result.allowed:
            BackgroundJob.objects.filter(pk=job.pk).update(last_checked_at=now)
            continue
        with transaction.atomic():
            updated = BackgroundJob.objects.filter(
                pk=job.pk, status=BackgroundJob.Status.ALLOWED
            ).update(status=BackgroundJob.Status.DENIED, reason=result.reason, last_checked_at=now)
            if updated:
                marked += 1
                record_event(
                    Action.BACKGROUND_JOB_LOST_PERMISSION,
                    grant=job.grant,
                    outcome=Outcome.DENIED,
                    reason=result.reason,
                    background=True,
                    metadata={"job": job.job_id},
                )
    return marked


# --- the platform's own endpoints --------------------------------------------------------------


def me_view(*, token, grant, decision) -> BrokerResult:
    person = grant.user
    return BrokerResult(
        status=200, data={"id": person.pk, "name": person.name, "email": person.email}
    )


def token_view(*, request) -> BrokerResult:
    """What this token may do now: scopes, services, resources, background, expiry."""
    from broker.policy import BACKGROUND_SCOPE, UNATTENDED_WRITES_SCOPE
    from consent.catalog import get_scope

    def handler(*, token, grant, decision):
        scopes = sorted(decision.effective_scopes)
        services = {}
        for scope_name in scopes:
            scope = get_scope(scope_name)
            if scope is None or scope.service is None or scope.service in services:
                continue
            connection, provider = connection_for(grant=grant, service=scope.service)
            usable = bool(
                connection
                and provider
                and connection.user_id == grant.user_id
                and connection.is_active
                and provider.service == scope.service
            )
            services[scope.service] = {
                "provider": provider.id if usable else None,
                "connection_active": usable,
            }
        resources = {
            s: [
                {"id": item.get("id"), "label": item.get("label", "")}
                for item in (grant.resources or {}).get(s, [])
            ]
            for s in scopes
            if get_scope(s) and get_scope(s).resource_kind
        }
        return BrokerResult(
            status=200,
            data={
                "grant": grant.pk,
                "scopes": scopes,
                "services": services,
                "resources": resources,
                "background": decision.background,
                "background_allowed": BACKGROUND_SCOPE in grant.scopes,
                "unattended_writes": UNATTENDED_WRITES_SCOPE in decision.effective_scopes,
                "expires_at": token.expires.isoformat(),
                "grant_expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
            },
        )

    # No particular scope: any live grant may ask what it can do.
    return broker_call(
        request=request, operation=None, scope=None, name="platform.token", handler=handler
    )


def me(*, request) -> BrokerResult:
    return broker_call(
        request=request,
        operation=None,
        scope="identity.profile.read",
        name="platform.me",
        handler=me_view,
    )


def action_status(*, request, action_id: int, audience: str = API_AUDIENCE) -> BrokerResult:
    """The app's own pending action: status and, when done, the outcome."""
    from consent.models import PendingAction

    def handler(*, token, grant, decision):
        action = PendingAction.objects.filter(pk=action_id, grant_id=grant.pk).first()
        if action is None:
            raise exceptions.NotFound("This app has no pending action with that id.")
        return BrokerResult(status=200, data={"pending_action": pending_action_view(action)})

    return broker_call(
        request=request,
        operation=None,
        scope=None,
        name="platform.action",
        handler=handler,
        audience=audience,
    )
