"""Conditional updates of a connection whose refresh lease is ours, as statements built once.

The refresh path writes a connection twice per refresh (the lease renewed before the provider
call, the tokens stored after it), each ``WHERE id AND refresh_lease_id = ours AND status =
'active'``. Through ``QuerySet.update`` the ORM compiled both for every refresh, a fifth of a
refresh's CPU. These are the same statements, written once per database and set of columns from
the model's names; each value goes through its field's ``get_db_prep_save`` as the ORM's update
does (so the vault's fields encrypt, datetimes and JSON are adapted), and, like ``update()``, no
signal is sent.
"""

from __future__ import annotations

from functools import cache

from django.db import connections, router, transaction

from connections.models import Connection


@cache
def _statement(db: str, columns: tuple[str, ...]) -> str:
    q = connections[db].ops.quote_name
    meta = Connection._meta
    assignments = ", ".join(f"{q(meta.get_field(name).column)} = %s" for name in columns)
    return (
        f"UPDATE {q(meta.db_table)} SET {assignments} "  # noqa: S608 - _meta names only
        f"WHERE {q(meta.pk.column)} = %s AND {q(meta.get_field('refresh_lease_id').column)} = %s "
        f"AND {q(meta.get_field('status').column)} = %s"
    )


def update_if_leased(connection_id: int, lease_id: str, changes: dict) -> bool:
    """Set ``changes`` (field name -> value) on the connection if its lease is still
    ``lease_id`` and it is still active; whether it was (one statement, autocommit or the
    caller's transaction)."""
    db = router.db_for_write(Connection)
    connection = connections[db]
    columns = tuple(changes)
    meta = Connection._meta
    values = [
        meta.get_field(name).get_db_prep_save(value, connection=connection)
        for name, value in changes.items()
    ]
    with transaction.mark_for_rollback_on_error(using=db), connection.cursor() as cursor:
        cursor.execute(
            _statement(db, columns),
            [*values, connection_id, lease_id, Connection.Status.ACTIVE.value],
        )
        return cursor.rowcount == 1
