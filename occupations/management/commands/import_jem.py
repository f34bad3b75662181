"""Import a job exposure matrix for a trial from a CSV file; exit 1 listing every row error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.commands import importer
from occupations import services


class Command(BaseCommand):
    help = (
        "Import a job exposure matrix (CSV with columns code, level, measure, score and "
        "optionally measure_label; see docs/import-formats.md) into a trial. Every error is "
        "listed with its line; nothing is written unless all rows are valid."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # --version names the matrix's version here, not Django's: let ours replace it.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV file")
        parser.add_argument("--trial", required=True, help="Code of the trial")
        parser.add_argument("--name", required=True, help="Name of the matrix")
        parser.add_argument("--version", dest="matrix_version", required=True, help="Version")
        parser.add_argument("--source", default="", help="Source or citation")
        parser.add_argument("--licence", default="", help="Licence of the matrix")
        parser.add_argument(
            "--illustrative", action="store_true", help="Mark as illustrative (not for research)"
        )
        parser.add_argument("--activate", action="store_true", help="Make it the matrix in use")
        parser.add_argument(
            "--user",
            help="Username of the person importing (named in the audit trail); they need the "
            "import permission in the trial. Without it the import is recorded as 'system'.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        trial, user = importer(options["trial"], options["user"])
        try:
            matrix = services.import_jem(
                trial,
                content=path.read_bytes(),
                name=options["name"],
                version=options["matrix_version"],
                source=options["source"],
                licence=options["licence"],
                illustrative=options["illustrative"],
                activate=options["activate"],
                actor=user,
            )
        except services.JEMImportError as error:
            for problem in error.errors:
                where = f"{path.name}:{problem.line}" if problem.line else path.name
                column = f" [{problem.column}]" if problem.column else ""
                self.stderr.write(f"{where}{column}: {problem.message}")
            raise CommandError(f"{len(error.errors)} error(s); nothing was imported") from None
        self.stdout.write(
            f"Imported {matrix.name} {matrix.version}: {matrix.entries.count()} scores"
            + (" (in use)" if matrix.active else "")
        )
