"""Writing thousands of rows in a few statements, for the services that do (the trial import).

* :func:`insert`: on PostgreSQL, ``COPY`` with primary keys drawn from the table's sequence in
  one query; elsewhere, and for a few rows, ``bulk_create``. Django's ``bulk_create`` on
  PostgreSQL sends the rows as arrays whose text psycopg quotes element by element in Python
  (JSON columns above all): the import's answers and audit events spent most of their time
  there.
* :func:`set_column`: one column set to a different value on many rows. Django's
  ``bulk_update`` writes ``CASE WHEN id = … THEN …`` for every row, which costs more to build
  than the rows take to write; this is ``UPDATE … FROM`` a list of (key, value) pairs.

Neither sends signals nor audits: the caller audits, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from django.db import connection, connections, models

BATCH = 500
COPY_FROM = 50
"""Fewer objects go in one INSERT, as ``bulk_create`` writes them (one allocation, a contact's
events): a sequence query and a COPY would be two statements for a few rows."""
M = TypeVar("M", bound=models.Model)


def _column(field: Any) -> str:
    return connection.ops.quote_name(str(field.column))


def insert(objects: Sequence[M]) -> list[M]:
    """Insert new objects of one model, setting their primary keys (and ``auto_now_add``
    fields), as ``bulk_create`` does. Raises IntegrityError as ``bulk_create`` does."""
    objects = list(objects)
    if not objects:
        return objects
    model = type(objects[0])
    if connection.vendor != "postgresql" or len(objects) < COPY_FROM:
        return model._default_manager.bulk_create(objects, batch_size=BATCH)
    meta = model._meta
    pk: Any = meta.pk
    fields = [field for field in meta.concrete_fields if field is not pk]
    # The connection itself, not the proxy: the proxy's per-context lookup, once per value,
    # cost more than the values' conversion.
    real = connections[connection.alias]
    with real.wrap_database_errors, real.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, pk.column, len(objects)],
        )
        for obj, (key,) in zip(objects, cursor.fetchall(), strict=True):
            setattr(obj, pk.attname, key)
        names = ", ".join(_column(field) for field in [pk, *fields])
        table = connection.ops.quote_name(meta.db_table)
        convert = [_converter(field, real) for field in fields]
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for obj in objects:
                copy.write_row([getattr(obj, pk.attname)] + [value(obj) for value in convert])
    for obj in objects:
        obj._state.adding = False
        obj._state.db = real.alias
    return objects


def _converter(field: Any, real: Any) -> Callable[[models.Model], Any]:
    """How one field's value is written: as ``bulk_create`` writes it (``pre_save``, then
    ``get_db_prep_save``), with the plain cases (a foreign key's id, text, numbers, dates)
    read straight from the object."""
    attname = field.attname
    plain = (
        models.ForeignKey,
        models.CharField,
        models.TextField,
        models.IntegerField,
        models.BooleanField,
        models.DateField,
    )
    automatic = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    if isinstance(field, plain) and not isinstance(field, models.DateTimeField) and not automatic:
        return lambda obj: getattr(obj, attname)
    if isinstance(field, models.JSONField):
        adapt, encoder = real.ops.adapt_json_value, field.encoder

        def json_value(obj: models.Model) -> Any:
            value = getattr(obj, attname)
            return None if value is None else adapt(value, encoder)

        return json_value
    return lambda obj: field.get_db_prep_save(field.pre_save(obj, True), real)


def set_column(model: type[models.Model], name: str, values: Mapping[Any, Any]) -> int:
    """Set field ``name`` of the rows of ``model`` whose primary keys are the keys of
    ``values`` to the values given; returns the rows changed."""
    field: Any = model._meta.get_field(name)
    table = connection.ops.quote_name(model._meta.db_table)
    column, pk = _column(field), _column(model._meta.pk)
    items = list(values.items())
    if not items:
        return 0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {column} = v.value"  # noqa: S608 - names quoted, values bound
                f" FROM unnest(%s::bigint[], %s::{field.db_type(connection)}[]) AS v(key, value)"
                f" WHERE {table}.{pk} = v.key",
                [[key for key, _value in items], [value for _key, value in items]],
            )
            return int(cursor.rowcount)
    changed = 0
    with connection.cursor() as cursor:
        for start in range(0, len(items), BATCH):
            batch = items[start : start + BATCH]
            rows = ", ".join(["(%s, %s)"] * len(batch))
            params: list[Any] = []
            for key, value in batch:
                params += [key, field.get_db_prep_value(value, connection)]
            cursor.execute(
                f"UPDATE {table} SET {column} = v.column2 FROM (VALUES {rows}) AS v "  # noqa: S608 - names quoted, values bound
                f"WHERE {table}.{pk} = v.column1",
                params,
            )
            changed += cursor.rowcount
    return changed
