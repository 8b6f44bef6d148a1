"""Reads of the broker: the token's facts in one query, the grant and connection a call uses.

The token statement (:func:`token_raw_with_connection`) reads the token, its client, app, person
and (for a person's token) the grant of that person and app, as they are now, with the row
versions of those rows and, for a call to a service, the connection the grant names for it: one
plain SQL statement, written once from the models' own table and column names, with every value
a parameter (building and compiling the equivalent ORM query, four joins and a filtered
relation, cost more than the rest of a brokered call). The row comes back as plain values, which
is what ``broker.factcache`` keeps; a cached call then reads only the versions and its
connection (:func:`versions_with_connection`). :func:`token_row_from` turns a row into a
:class:`TokenRow`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, router
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from apps_registry.models import App
from broker import exceptions, gateway
from broker.policy import ConnectionFacts, GrantFacts, TokenFacts
from connections.models import Connection
from connections.providers.kinds import canonical
from connections.token_use import TOKEN_READ_FIELDS
from consent.catalog import get_scope
from consent.models import Grant
from identity import rows

# (attribute on TokenRow, model, field name): the only columns the hot path reads. The wide rest
# of these rows (secrets, redirect URIs, descriptions, password hash...) is never loaded.
_TOKEN_FIELDS = ("id", "user_id", "application_id", "source_refresh_token_id", "expires",
                 "scope", "created", "resource")  # fmt: skip
_APP_FIELDS = ("id", "client_id", "name", "suspended_at")
_USER_FIELDS = ("id", "email", "name", "is_active")
_GRANT_FIELDS = ("id", "user_id", "app_id", "scopes", "connections", "resources", "duration",
                 "expires_at", "created_at", "updated_at", "last_used_at", "revoked_at",
                 "revoke_reason", "declined_scopes", "expired_at")  # fmt: skip


# The row versions (PostgreSQL's xmin: the transaction that last wrote a row, new on every
# UPDATE however it is made) of the token, app, person and grant rows, from one function (broker
# migration 0002) that takes their primary keys: a column of the token statement, and a cached
# call's one read beside its connection. broker.factcache compares the two.
ROW_VERSIONS = "broker_row_versions"
VERSIONED = ("t", "a", "u", "g")  # the function's arguments, in its order


@dataclass(frozen=True, slots=True)
class TokenRow:
    """A platform access token with what a call needs of its app, person and grant."""

    token: dict[str, Any]
    app: dict[str, Any] | None
    user: dict[str, Any] | None
    grant: dict[str, Any] | None


@cache
def _groups(db: str) -> tuple:
    """The statement's tables, in its order: (alias, the columns it reads of that model)."""
    return (
        ("t", rows.columns(get_access_token_model(), db, _TOKEN_FIELDS)),
        ("a", rows.columns(App, db, _APP_FIELDS)),
        ("u", rows.columns(get_user_model(), db, _USER_FIELDS)),
        ("g", rows.columns(Grant, db, _GRANT_FIELDS)),
    )


@cache
def _statement(db: str) -> str:
    # Built once per database (quoting is the backend's). Only table and column names are
    # formatted in, from the models' _meta; the checksum is a parameter.
    q = connections[db].ops.quote_name
    token_model, client_model, user_model = (
        get_access_token_model(),
        get_application_model(),
        get_user_model(),
    )
    groups = dict(_groups(db))
    select = ", ".join(columns.select(alias) for alias, columns in groups.items())
    if connections[db].vendor == "postgresql":
        keys = ", ".join(f"{alias}.{q(groups[alias].model._meta.pk.column)}" for alias in VERSIONED)
        select += f", {ROW_VERSIONS}({keys})"
    t = token_model._meta
    sql = (
        f"SELECT {select} FROM {q(t.db_table)} t "  # noqa: S608 - names from _meta only
        f"LEFT JOIN {q(client_model._meta.db_table)} c "
        f"ON c.{q(client_model._meta.pk.column)} = t.{q(t.get_field('application').column)} "
        f"LEFT JOIN {q(App._meta.db_table)} a "
        f"ON a.{q(App._meta.get_field('client').column)} = c.{q(client_model._meta.pk.column)} "
        f"LEFT JOIN {q(user_model._meta.db_table)} u "
        f"ON u.{q(user_model._meta.pk.column)} = t.{q(t.get_field('user').column)} "
        f"LEFT JOIN {q(Grant._meta.db_table)} g "
        f"ON g.{q(Grant._meta.get_field('app').column)} = a.{q(App._meta.pk.column)} "
        f"AND g.{q(Grant._meta.get_field('user').column)} = t.{q(t.get_field('user').column)} "
        f"WHERE t.{q(t.get_field('token_checksum').column)} = %s"
    )
    return sql


@cache
def _layout(db: str) -> tuple:
    """Per model, its slice of the statement's row: (alias, start, end, where its primary key
    is, its columns)."""
    layout, position = [], 0
    for alias, columns in _groups(db):
        end = position + len(columns.fields)
        pk_at = position + columns.attnames.index(columns.model._meta.pk.attname)
        layout.append((alias, position, end, pk_at, columns))
        position = end
    return tuple(layout)


def token_row(checksum: str) -> TokenRow | None:
    """The token with this checksum, its app, person and grant (None where there is none)."""
    raw = token_raw(checksum)
    return None if raw is None else token_row_from(raw)


def token_raw(checksum: str) -> tuple | None:
    """The statement's row as the driver returns it: immutable values (JSON still as text), so
    that a cache can keep it and every call still gets objects of its own (broker.factcache)."""
    return token_raw_with_connection(checksum, service=None).row


@dataclass(frozen=True, slots=True)
class TokenRead:
    """What the token statement read: the token's row (None: no such token), the versions of
    the rows it came from (:data:`ROW_VERSIONS`; None where the database has none), and the
    grant's connection for the call's service (None: none asked, or none)."""

    row: tuple | None
    versions: str | None
    connection: Connection | None


@cache
def _with_connection(db: str) -> str:
    # The same statement, plus the connection the grant names for one service (the grant's
    # ``connections`` JSON maps service -> connection id), with the columns the vault reads: a
    # brokered call's token, grant and connection in one round trip. The service is a parameter.
    q = connections[db].ops.quote_name
    vendor = connections[db].vendor
    sql = _statement(db)
    table = Connection._meta.db_table
    g_conns = f"g.{q(Grant._meta.get_field('connections').column)}"
    if vendor == "postgresql":
        named = (
            f"CASE WHEN ({g_conns} ->> %s) ~ '^[0-9]{{1,18}}$' THEN ({g_conns} ->> %s)::bigint END"
        )
    else:
        named = f"json_extract({g_conns}, '$.' || %s)"
    columns = _connection_columns(db).select("k")
    select, rest = sql.split(" FROM ", 1)
    body, where = rest.rsplit(" WHERE ", 1)
    return (
        f"{select}, {columns} FROM {body} "
        f"LEFT JOIN {q(table)} k ON k.{q(Connection._meta.pk.column)} = {named} WHERE {where}"
    )


def token_raw_with_connection(checksum: str, *, service: str | None) -> TokenRead:
    """The token's row and its versions; with ``service``, the grant's connection for it from
    the same statement (as :func:`connection_load_for_use` would read it)."""
    db = router.db_for_read(get_access_token_model())
    connection = connections[db]
    sql = _statement(db)
    params = [checksum]
    if service is not None and service.isidentifier():
        sql = _with_connection(db)
        params = (
            [service, service, checksum]
            if connection.vendor == "postgresql"
            else [
                service,
                checksum,
            ]
        )
    else:
        service = None
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return TokenRead(None, None, None)
    width = _layout(db)[-1][2]
    versioned = connection.vendor == "postgresql"
    end = width + versioned
    found = _connection_from(row[end:], db) if service is not None else None
    return TokenRead(row[:width], row[width] if versioned else None, found)


_CONNECTION_ID = re.compile(r"[0-9]{1,18}")


@cache
def _grant_columns(db: str) -> tuple[int, int]:
    """Where the grant's id and its ``connections`` are in the token statement's row."""
    ((start, pk_at, columns),) = [
        (start, pk_at, columns)
        for alias, start, _end, pk_at, columns in _layout(db)
        if alias == "g"
    ]
    return pk_at, start + columns.attnames.index("connections")


def grant_connection_ids(row: tuple) -> dict[str, int]:
    """service -> connection id, as the row's grant names them (what the token statement joins
    on for a service: a value of up to 18 digits, as a number or a string)."""
    grant_pk_at, connections_at = _grant_columns(router.db_for_read(get_access_token_model()))
    if row[grant_pk_at] is None:  # the LEFT JOIN found no grant
        return {}
    named = row[connections_at]
    if isinstance(named, str | bytes | bytearray):  # JSON as the driver returns it
        named = json.loads(named)
    out = {}
    for service, value in named.items() if isinstance(named, dict) else ():
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            continue
        if _CONNECTION_ID.fullmatch(str(value)):
            out[service] = int(value)
    return out


@cache
def _versions_statement(db: str) -> str:
    # A cached call's one read: the current versions of the rows its facts came from, by primary
    # key, and the call's connection. PostgreSQL only.
    q = connections[db].ops.quote_name
    return (
        f"SELECT {ROW_VERSIONS}(%s, %s, %s, %s), {_connection_columns(db).select('k')} "  # noqa: S608 - _meta names only
        f"FROM (SELECT 1) AS one "
        f"LEFT JOIN {q(Connection._meta.db_table)} k ON k.{q(Connection._meta.pk.column)} = %s"
    )


def versions_with_connection(ids: tuple, connection_id: int | None) -> tuple[str, object]:
    """``(versions, connection)``: the versions now of the rows with these primary keys
    (:data:`VERSIONED` order, None for none) and the connection ``connection_id`` (or None)."""
    db = router.db_for_read(get_access_token_model())
    with connections[db].cursor() as cursor:
        cursor.execute(_versions_statement(db), [*ids, connection_id])
        row = cursor.fetchone()
    return row[0], _connection_from(row[1:], db)


def _connection_columns(db: str) -> rows.Columns:
    # The columns the broker's checks and the vault read (connections.token_use).
    return rows.columns(Connection, db, TOKEN_READ_FIELDS)


def _connection_from(values, db: str):
    columns = _connection_columns(db)
    if values[columns.attnames.index("id")] is None:  # the LEFT JOIN found none
        return None
    return columns.instance(values)


@cache
def _connection_statement(db: str) -> str:
    # The connection alone, by primary key, with the columns the vault reads (a cached token's
    # call: its grant came from the process cache, the connection never does).
    q = connections[db].ops.quote_name
    return (
        f"SELECT {_connection_columns(db).select()} FROM {q(Connection._meta.db_table)} "  # noqa: S608 - _meta names only
        f"WHERE {q(Connection._meta.pk.column)} = %s"
    )


def connection_row(connection_id: int):
    """The connection as it is now, with what the broker's checks and the vault read: what
    ``connections.services.connection_load_for_use`` returns, from a statement built once."""
    db = router.db_for_read(Connection)
    with connections[db].cursor() as cursor:
        cursor.execute(_connection_statement(db), [connection_id])
        row = cursor.fetchone()
    return None if row is None else _connection_from(row, db)


def token_row_from(row: tuple) -> TokenRow:
    parts = {}
    for alias, start, end, pk_at, columns in _layout(router.db_for_read(get_access_token_model())):
        # None where the LEFT JOIN found no such row.
        parts[alias] = None if row[pk_at] is None else columns.mapping(row[start:end])
    return TokenRow(token=parts["t"], app=parts["a"], user=parts["u"], grant=parts["g"])


def grant_still_live(grant) -> None:
    """Raise unless the grant is, right now, unrevoked and unexpired, its app unsuspended and its
    person active. One primary-key read; the broker runs it before every upstream request
    (issue 12 item 7), so a revocation stops a call's retries and follow-up requests."""
    row = (
        Grant.objects.filter(pk=grant.pk)
        .values_list("revoked_at", "expires_at", "app__suspended_at", "user__is_active")
        .first()
    )
    if row is None or row[0] is not None:
        raise exceptions.GrantRevoked()
    _revoked_at, expires_at, suspended_at, active = row
    if expires_at is not None and expires_at <= timezone.now():
        raise exceptions.GrantRevoked("This access has expired.")
    if suspended_at is not None:
        raise exceptions.AppSuspended()
    if not active:
        raise exceptions.InvalidToken("The person this token acts for is no longer active.")


def grant_for_client(*, grant_id: int, app_id: int) -> Grant | None:
    """The grant a client-credentials token names, if it is one of the token's app."""
    return Grant.objects.select_related("user").filter(pk=grant_id, app_id=app_id).first()


# --- facts for the policy ------------------------------------------------------------------------


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
    resources = {}
    for scope_name, items in (grant.resources or {}).items():
        if only_scope is not None and scope_name != only_scope:
            continue
        scope = get_scope(scope_name)
        if scope is None or scope.resource_kind is None:
            continue
        ids = {canonical(scope.resource_kind, item.get("id")) for item in items or ()}
        resources[scope_name] = frozenset(ids - {None})
    return GrantFacts(
        scopes=frozenset(grant.scopes or ()),
        resources=resources,
        # A deactivated person's grant counts as revoked everywhere (issue 12 item 3).
        revoked=grant.revoked_at is not None or not getattr(grant.user, "is_active", True),
        expires_at=grant.expires_at,
        app_suspended=grant.app.suspended_at is not None,
    )


def connection_for(*, grant, service: str, preloaded=None):
    """The grant's connection for ``service`` and its provider. ``preloaded``: the connection
    read with the token (:func:`token_raw_with_connection`), used when it is that one."""
    connection_id = (grant.connections or {}).get(service)
    if connection_id is None:
        return None, None
    try:
        # One read for the checks here and the vault's token (the broker never reads the
        # token fields itself; the vault does, from this same row).
        if preloaded is not None and preloaded.pk == int(connection_id):
            connection = preloaded
        else:
            connection = connection_row(int(connection_id))
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
