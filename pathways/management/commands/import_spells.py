"""Import register spells from a CSV file into a trial; exit 1 on errors.

The same checks as the browser (pathways.checking). Without --skip-invalid nothing is written
unless every row is valid; importing the same file again changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.commands import importer
from pathways import checking, importing
from pathways.models import SpellImport


class Command(BaseCommand):
    help = (
        "Import register spells from FILE (CSV: study_id or personal_number, state, "
        "start_date, end_date, source, detail; see docs/import-formats.md) into a trial. "
        "Every row error is listed with its line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV file")
        parser.add_argument("--trial", required=True, help="Code of the trial")
        parser.add_argument(
            "--user",
            help="Username of the person importing, named in the audit trail (they need the "
            "import permission in the trial). Without it the import is recorded as 'system'.",
        )
        parser.add_argument("--source", default="register", help="Source for rows without one")
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the valid rows even if some rows have errors",
        )
        parser.add_argument("--dry-run", action="store_true", help="Check only; write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        trial, user = importer(options["trial"], options["user"])
        data = path.read_bytes()
        spell_import = importing.create_import(
            trial,
            data=data,
            file_name=path.name,
            default_source=options["source"],
            actor=user,
            keep_file=False,
        )
        result = importing.check_import(spell_import, data)
        for error in result.error_list():
            where = f"line {error['line']}" if error["line"] else "file"
            column = f" {error['column']}" if error["column"] else ""
            message = checking.message(error["kind"], error["params"])
            self.stderr.write(f"{path.name}: {where}{column}: {message}")
        spell_import.refresh_from_db()
        summary = (
            f"{spell_import.rows_total} rows: {spell_import.rows_valid} valid, "
            f"{spell_import.rows_invalid} with errors; {spell_import.rows_new} new, "
            f"{spell_import.rows_changed} changed, {spell_import.rows_unchanged} unchanged"
        )
        if (
            options["dry_run"]
            or result.file_level
            or (spell_import.rows_invalid and not options["skip_invalid"])
        ):
            importing.cancel_import(spell_import, actor=user)
            if options["dry_run"] and not spell_import.rows_invalid and not result.file_level:
                self.stdout.write(f"{summary}. Dry run: nothing written.")
                return
            raise CommandError(f"{summary}. Nothing written.")
        importing.confirm_import(spell_import, skip_invalid=options["skip_invalid"], actor=user)
        status = importing.execute_apply(spell_import.pk)
        spell_import.refresh_from_db()
        if status != SpellImport.Status.DONE:
            raise CommandError(f"the import failed: {spell_import.error}")
        self.stdout.write(f"{summary}. {spell_import.rows_written} spells written.")
