"""Least privilege in PostgreSQL: the owner migrates, the application's role only reads and writes.

Migrations run as the role that owns the tables (the *owner*). The application connects as a
separate role (the *app role*) that gets, on every table of the schema:

* ``SELECT, INSERT`` only, on the append-only tables (allocations, their flags and emergency
  unblindings, the audit trail, the analysis unblinding: every table with a trigger whose function's
  name ends in ``append_only``), so that the app can add to them but not rewrite them;
* ``SELECT, INSERT, UPDATE`` on tables guarded by another row trigger (the sealed lists, whose
  slots may only change from unused to used);
* ``SELECT, INSERT, UPDATE, DELETE`` on every other table, and use of the sequences.

It never gets ``TRUNCATE``, ``REFERENCES``, ``TRIGGER`` or ownership, so it cannot truncate a
table, disable or drop a trigger, alter a table or set ``session_replication_role`` (a
superuser's right). Which tables are append-only is read from the database's own triggers
(their functions' names), so a migration that adds one is covered without changing this file.

:func:`grant_app_role` runs after every ``migrate`` when ``DATABASE_APP_ROLE`` names the app
role (the ``post_migrate`` signal, see ``trial.apps``), and through
``manage.py grant_app_role ROLE``. README ("Run it in production") and docs/security.md describe
both roles.
"""

from __future__ import annotations

from typing import Any

from django.db import connections
from psycopg import sql

APPEND_ONLY = "append_only"
GUARDED = "use_only"


def table_privileges(using: str = "default") -> dict[str, str]:
    """Every table of the current schema and the privileges the app role gets on it."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, coalesce(string_agg(p.proname, ' '), '') FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " LEFT JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal"
            " LEFT JOIN pg_proc p ON p.oid = t.tgfoid"
            " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
            " GROUP BY c.relname ORDER BY c.relname"
        )
        rows = cursor.fetchall()
    privileges = {}
    for table, triggers in rows:
        if APPEND_ONLY in triggers:
            privileges[table] = "SELECT, INSERT"
        elif GUARDED in triggers:
            privileges[table] = "SELECT, INSERT, UPDATE"
        else:
            privileges[table] = "SELECT, INSERT, UPDATE, DELETE"
    return privileges


def grant_app_role(role: str, *, using: str = "default") -> dict[str, str]:
    """Give ``role`` exactly the privileges above on every table and sequence of the schema.

    Run as the owner of the tables (after ``migrate``). Revokes everything first, so a table that
    became append-only loses UPDATE and DELETE. Safe to repeat. Returns table → privileges.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return {}
    privileges = table_privileges(using)
    name = sql.Identifier(role)
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}")
            .format(sql.Identifier(_schema(cursor)), name)
            .as_string(cursor.connection)
        )
        for table, grant in privileges.items():
            target = sql.Identifier(table)
            cursor.execute(
                sql.SQL("REVOKE ALL ON TABLE {} FROM {}")
                .format(target, name)
                .as_string(cursor.connection)
            )
            cursor.execute(
                sql.SQL("GRANT " + grant + " ON TABLE {} TO {}")
                .format(target, name)
                .as_string(cursor.connection)
            )
        cursor.execute(
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}")
            .format(sql.Identifier(_schema(cursor)), name)
            .as_string(cursor.connection)
        )
    return privileges


def _schema(cursor: Any) -> str:
    cursor.execute("SELECT current_schema()")
    return str(cursor.fetchone()[0])


def grant_after_migrate(using: str = "default", **kwargs: Any) -> None:
    """``post_migrate`` receiver: grant the app role named by ``DATABASE_APP_ROLE``, if any."""
    from django.conf import settings

    role = getattr(settings, "DATABASE_APP_ROLE", "")
    if role and connections[using].vendor == "postgresql":
        grant_app_role(role, using=using)
