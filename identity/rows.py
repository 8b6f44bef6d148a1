"""Model instances from the rows of statements written once.

The hottest reads (the token endpoint's client and refresh token, the person's grant on every
refresh, the broker's token facts and connection) are plain SQL written once per database from
the models' own table and column names: compiling the equivalent ORM query cost more than the
rest of the request. Their rows must still become exactly what the ORM would make of them. This
module is the one place that knows how: each column goes through the converters the ORM's
compiler applies (the backend's, then the field's own), and the instance is made by
``Model.from_db``, as a queryset makes it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import DEFERRED


@dataclass(frozen=True, slots=True)
class Columns:
    """Some concrete columns of ``model`` as read from database ``db``, always in the model's
    field order (the order ``Model.from_db`` expects); a statement selects :meth:`select`."""

    model: type
    db: str
    fields: tuple
    attnames: tuple[str, ...]
    converters: tuple  # per column: (the column expression, its converters)

    def select(self, alias: str | None = None) -> str:
        """The columns as a statement's select list, quoted by the backend, under ``alias``."""
        q = connections[self.db].ops.quote_name
        prefix = f"{alias}." if alias else ""
        return ", ".join(f"{prefix}{q(field.column)}" for field in self.fields)

    def values(self, raw: Sequence) -> list:
        """The row's values as the model's fields hold them."""
        connection = connections[self.db]
        out = []
        for value, (column, converters) in zip(raw, self.converters, strict=True):
            for convert in converters:
                value = convert(value, column, connection)
            out.append(value)
        return out

    def mapping(self, raw: Sequence) -> dict[str, Any]:
        """The row's values by attribute name (``user_id``, not ``user``)."""
        return dict(zip(self.attnames, self.values(raw), strict=True))

    def instance(self, raw: Sequence):
        """The instance the ORM would build from this row; columns not read stay deferred."""
        return self.model.from_db(self.db, self.attnames, self.values(raw))


@functools.cache
def columns(model, db: str, names: tuple[str, ...] | None = None) -> Columns:
    """The columns of ``model`` named by ``names`` (field names or attnames; every concrete
    field when None), in the model's order; built once per model, database and names."""
    wanted = None if names is None else set(names)
    fields = tuple(
        field
        for field in model._meta.concrete_fields
        if wanted is None or field.name in wanted or field.attname in wanted
    )
    if wanted is not None:
        unknown = wanted - {f.name for f in fields} - {f.attname for f in fields}
        if unknown:
            raise ValueError(f"{model.__name__} has no concrete field {sorted(unknown)}")
    connection = connections[db]
    converters = []
    for field in fields:
        column = field.get_col(model._meta.db_table)
        converters.append(
            (
                column,
                tuple(
                    connection.ops.get_db_converters(column) + field.get_db_converters(connection)
                ),
            )
        )
    return Columns(
        model=model,
        db=db,
        fields=fields,
        attnames=tuple(f.attname for f in fields),
        converters=tuple(converters),
    )


def instance_from_values(model, db: str, values: Mapping[str, Any]):
    """``Model.from_db`` from values the fields already hold, by attname, in any order; the
    fields not given stay deferred."""
    return model.from_db(
        db,
        tuple(values),
        [values.get(field.attname, DEFERRED) for field in model._meta.concrete_fields],
    )
