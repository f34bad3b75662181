"""Give the application's restricted database role its privileges (run as the tables' owner).

    manage.py grant_app_role ROLE [--show]

``migrate`` does this by itself when ``DATABASE_APP_ROLE`` is set; this command is for a role
created afterwards, or to see what each table gets (``--show``). See trial/dbroles.py.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from trial import dbroles


class Command(BaseCommand):
    help = "Grant the application's database role read/write, append-only tables insert-only."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", help="The PostgreSQL role the application connects as")
        parser.add_argument("--show", action="store_true", help="list what each table gets")

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("database roles apply to PostgreSQL only")
        privileges = dbroles.grant_app_role(options["role"])
        append_only = sorted(t for t, p in privileges.items() if p == "SELECT, INSERT")
        if options["show"]:
            for table, grant in privileges.items():
                self.stdout.write(f"{table}: {grant}")
        self.stdout.write(
            f"{options['role']}: {len(privileges)} tables; append-only (SELECT, INSERT): "
            + ", ".join(append_only)
        )
