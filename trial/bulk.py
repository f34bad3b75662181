"""One statement for a column set to a different value on many rows.

Django's ``bulk_update`` writes ``CASE WHEN id = … THEN …`` for every row, which costs more to
build in Python than the rows take to write; services that set one column on thousands of rows
(the import's visit completions and randomisation dates) use this instead. Plain SQL that
PostgreSQL and SQLite (3.33 and later) both run: ``UPDATE … FROM (VALUES …)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import connection, models

BATCH = 500


def set_column(model: type[models.Model], name: str, values: Mapping[Any, Any]) -> int:
    """Set field ``name`` of the rows of ``model`` whose primary keys are the keys of
    ``values`` to the values given; returns the rows changed. No signals, no audit: the caller
    audits."""
    field = model._meta.get_field(name)
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(field.column)  # type: ignore[union-attr]  # a concrete field
    pk = connection.ops.quote_name(model._meta.pk.column)  # type: ignore[union-attr]  # every model has one
    items = list(values.items())
    changed = 0
    with connection.cursor() as cursor:
        for start in range(0, len(items), BATCH):
            batch = items[start : start + BATCH]
            rows = ", ".join(["(%s, %s)"] * len(batch))
            params: list[Any] = []
            for key, value in batch:
                params += [key, field.get_db_prep_value(value, connection)]  # type: ignore[union-attr]  # a concrete field
            cursor.execute(
                f"UPDATE {table} SET {column} = v.column2 FROM (VALUES {rows}) AS v "  # noqa: S608 - names quoted, values bound
                f"WHERE {table}.{pk} = v.column1",
                params,
            )
            changed += cursor.rowcount
    return changed
