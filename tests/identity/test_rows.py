"""identity.rows: a raw row becomes what the ORM makes of it, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection as db_connection
from django.utils import timezone

from connections.models import Connection
from identity import rows
from identity.rows import instance_from_values


def _read(columns, pk):
    q = db_connection.ops.quote_name
    meta = columns.model._meta
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns.select()} FROM {q(meta.db_table)} WHERE {q(meta.pk.column)} = %s",
            [pk],
        )
        return cursor.fetchone()


@pytest.fixture
def stored_connection(user):
    return Connection.objects.create(
        user=user,
        provider="github",
        provider_account_id="583231",
        login="octo",
        scopes=["repo", "read:user"],
        access_token="gho_the-provider-token",
        refresh_token=None,
        token_expires_at=timezone.now() + timezone.timedelta(hours=1),
    )


@pytest.mark.django_db
def test_every_field_reads_as_the_orm_reads_it(stored_connection):
    columns = rows.columns(Connection, db_connection.alias)
    made = columns.instance(_read(columns, stored_connection.pk))
    orm = Connection.objects.get(pk=stored_connection.pk)
    for field in Connection._meta.concrete_fields:
        assert getattr(made, field.attname) == getattr(orm, field.attname), field.name
    # The converters ran: JSON decoded, the vault's field decrypted, timestamps aware.
    assert made.scopes == ["repo", "read:user"]
    assert made.access_token == "gho_the-provider-token"
    assert made.token_expires_at.tzinfo is not None
    assert made._state.adding is False and made._state.db == db_connection.alias


@pytest.mark.django_db
def test_some_columns_in_the_models_order_the_rest_deferred(stored_connection):
    columns = rows.columns(Connection, db_connection.alias, ("token_expires_at", "user", "id"))
    assert columns.attnames == ("id", "user_id", "token_expires_at")  # the model's order
    made = columns.instance(_read(columns, stored_connection.pk))
    assert made.get_deferred_fields() >= {"access_token", "scopes", "login"}
    assert (made.pk, made.user_id) == (stored_connection.pk, stored_connection.user_id)
    assert columns.mapping(_read(columns, stored_connection.pk)) == {
        "id": stored_connection.pk,
        "user_id": stored_connection.user_id,
        "token_expires_at": stored_connection.token_expires_at,
    }


def test_a_name_the_model_does_not_have_is_refused():
    with pytest.raises(ValueError, match="no concrete field"):
        rows.columns(get_user_model(), "default", ("email", "nickname"))


@pytest.mark.django_db
def test_instance_from_values_in_any_order(user):
    made = instance_from_values(
        get_user_model(), "default", {"is_active": False, "email": user.email, "id": user.pk}
    )
    assert (made.pk, made.email, made.is_active) == (user.pk, user.email, False)
    assert "password" in made.get_deferred_fields()
