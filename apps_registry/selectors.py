"""Reads for the developer pages and the admin, and the token endpoint's client and refresh-token
reads."""

from __future__ import annotations

import functools
import json
from collections import Counter
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connections, router
from django.db.models import F, Q
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_refresh_token_model,
)

from apps_registry.models import App, AppScope
from identity import rows


def apps_for_user(user):
    """Apps of the publishers the person owns or belongs to."""
    return (
        App.objects.filter(Q(publisher__owner=user) | Q(publisher__members=user))
        .select_related("publisher", "client")
        .distinct()
    )


def app_for_user(user, pk: int) -> App | None:
    return apps_for_user(user).filter(pk=pk).first()


@dataclass(frozen=True, slots=True)
class AccessSummary:
    people: int
    scopes_in_use: list[tuple[str, int]]  # (scope, how many people granted it), most used first


def _live_grants(app: App):
    # consent.Grant, read through the reverse relation (apps_registry does not import consent).
    now = timezone.now()
    return app.grants.filter(revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def app_access_summary(app: App) -> AccessSummary:
    """How many people have granted the app access and which scopes are in use; never who."""
    counter: Counter[str] = Counter()
    people = 0
    for scopes in _live_grants(app).values_list("scopes", flat=True):
        people += 1
        counter.update(set(scopes or []))
    return AccessSummary(
        people=people, scopes_in_use=sorted(counter.items(), key=lambda i: (-i[1], i[0]))
    )


def app_people(app: App, *, viewer) -> list:
    """Who has access: staff only."""
    if not getattr(viewer, "is_staff", False):
        return []
    return list(_live_grants(app).select_related("user").order_by("user__email"))


# --- the token endpoint's client read -----------------------------------------------------------
#
# Every token request starts with the client, its app and the app's scopes. Built with the ORM
# (select_related + prefetch_related) that was two queries and, measured, about half of a
# client-credentials grant's CPU: compiling the two statements and building the wide rows. This
# is the same read as one statement, written once per database from the models' own table and
# column names (every value a parameter), the scopes aggregated as JSON in a subquery; the rows
# become model instances exactly as the ORM would make them (``identity.rows``), with the app
# and its scopes cached on them as select_related/prefetch_related do.


@functools.cache
def _client_statement(db: str):
    connection = connections[db]
    vendor = connection.vendor
    if vendor == "postgresql":
        scopes = "json_agg(json_build_array(s.{id}, s.{scope}, s.{required}))"
    elif vendor == "sqlite":
        scopes = "json_group_array(json_array(s.{id}, s.{scope}, s.{required}))"
    else:
        return None
    q = connection.ops.quote_name
    client_model = get_application_model()
    client_columns, app_columns = rows.columns(client_model, db), rows.columns(App, db)
    s_meta = AppScope._meta
    scopes = scopes.format(
        id=q(s_meta.pk.column),
        scope=q(s_meta.get_field("scope").column),
        required=q(s_meta.get_field("required").column),
    )
    a_pk = q(App._meta.pk.column)
    sql = (
        f"SELECT {client_columns.select('c')}, {app_columns.select('a')}, "  # noqa: S608 - _meta
        f"(SELECT {scopes} FROM {q(s_meta.db_table)} s "
        f"WHERE s.{q(s_meta.get_field('app').column)} = a.{a_pk}) "
        f"FROM {q(client_model._meta.db_table)} c "
        f"LEFT JOIN {q(App._meta.db_table)} a "
        f"ON a.{q(App._meta.get_field('client').column)} = c.{q(client_model._meta.pk.column)} "
        f"WHERE c.{q(client_model._meta.get_field('client_id').column)} = %s"
    )
    return sql, client_columns, app_columns


def client_with_app(client_id: str):
    """The OAuth client with this ``client_id``, its app (``client.app``) and the app's scopes
    (``app.allowed_scopes.all()`` answers without a query), in one statement; None if there is
    no such client. A client without an app comes back without one, as the ORM would."""
    client_model = get_application_model()
    db = router.db_for_read(client_model)
    statement = _client_statement(db)
    if statement is None:  # another database: the ORM's two queries
        return (
            client_model.objects.select_related("app")
            .prefetch_related("app__allowed_scopes")
            .filter(client_id=client_id)
            .first()
        )
    sql, client_columns, app_columns = statement
    with connections[db].cursor() as cursor:
        cursor.execute(sql, [client_id])
        row = cursor.fetchone()
    if row is None:
        return None
    nc, na = len(client_columns.fields), len(app_columns.fields)
    client = client_columns.instance(row[:nc])
    if row[nc] is None:  # no app: remembered as none, as select_related does
        client_model.app.related.set_cached_value(client, None)
        return client
    app = app_columns.instance(row[nc : nc + na])
    raw = row[nc + na]
    items = json.loads(raw) if isinstance(raw, str | bytes | bytearray) else (raw or [])
    scopes = sorted(
        (
            AppScope.from_db(db, ["id", "app_id", "scope", "required"], [pk, app.pk, s, bool(r)])
            for pk, s, r in items
            if pk is not None
        ),
        key=lambda s: s.scope,  # AppScope's Meta.ordering, as the prefetch would give
    )
    prefetched = app.allowed_scopes.all()
    prefetched._result_cache = scopes
    prefetched._prefetch_done = True
    app._prefetched_objects_cache = {"allowed_scopes": prefetched}
    client.app = app  # both sides of the one-to-one, as select_related sets them
    return client


# --- the refresh grant's token read ----------------------------------------------------------------
#
# The same way (one statement written once per database, instances by ``identity.rows``): every
# refresh token with a checksum, the live one first, with its access token and person, as
# ``select_related("access_token", "user")`` would give them. The ORM spent more CPU compiling
# that join than the rest of the validation.


@functools.cache
def _refresh_token_statement(db: str):
    connection = connections[db]
    if connection.vendor not in {"postgresql", "sqlite"}:
        return None
    q = connection.ops.quote_name
    models = (get_refresh_token_model(), get_access_token_model(), get_user_model())
    parts = tuple(rows.columns(model, db) for model in models)
    rt, at, user = (m._meta for m in models)
    select = ", ".join(
        part.select(alias) for alias, part in zip(("r", "t", "u"), parts, strict=True)
    )
    sql = (
        f"SELECT {select} FROM {q(rt.db_table)} r "  # noqa: S608 - the models' own names
        f"LEFT JOIN {q(at.db_table)} t ON t.{q(at.pk.column)} = "
        f"r.{q(rt.get_field('access_token').column)} "
        f"LEFT JOIN {q(user.db_table)} u ON u.{q(user.pk.column)} = r.{q(rt.get_field('user').column)} "
        f"WHERE r.{q(rt.get_field('token_checksum').column)} = %s "
        f"ORDER BY r.{q(rt.get_field('revoked').column)} DESC NULLS FIRST"
    )
    return sql, parts


def refresh_tokens_with_checksum(token_checksum: str) -> list:
    """Every refresh token with this checksum (unique per ``(checksum, revoked)``), the live one
    first, each with its access token and person loaded (``access_token`` and ``user`` answer
    without a query, None when there is none), in one statement."""
    RefreshToken = get_refresh_token_model()
    db = router.db_for_read(RefreshToken)
    statement = _refresh_token_statement(db)
    if statement is None:  # another database: the ORM's join
        return list(
            RefreshToken.objects.filter(token_checksum=token_checksum)
            .select_related("access_token", "user")
            .order_by(F("revoked").desc(nulls_first=True))
        )
    sql, parts = statement
    with connections[db].cursor() as cursor:
        cursor.execute(sql, [token_checksum])
        found = cursor.fetchall()
    access_field = RefreshToken._meta.get_field("access_token")
    user_field = RefreshToken._meta.get_field("user")
    out = []
    for row in found:
        made, start = [], 0
        for part in parts:
            values = row[start : start + len(part.fields)]
            start += len(part.fields)
            pk_value = values[part.attnames.index(part.model._meta.pk.attname)]
            made.append(None if pk_value is None else part.instance(values))
        token, access, person = made
        access_field.set_cached_value(token, access)  # as select_related sets both sides
        if access is not None:
            access_field.remote_field.set_cached_value(access, token)
        user_field.set_cached_value(token, person)
        out.append(token)
    return out
