"""Load a trial, or more data for one, from a directory of CSV files; exit 1 on any error.

The formats are in docs/import-formats.md. Nothing is written unless every row of every file
is valid, and importing the same directory again changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.commands import active_user
from trial import permissions
from trial.models import Trial
from trial.permissions import Perm
from trialimport import services as importing
from trialimport.columns import FILES
from trialimport.reading import declared_trial_code, read_directory
from trialimport.report import ImportReport


class Command(BaseCommand):
    help = (
        "Import a trial from CSV files in DIR (trial.csv, arms.csv, sites.csv, covariates.csv, "
        "visits.csv, participants.csv, allocations.csv, assessments.csv, withdrawals.csv; "
        "see docs/import-formats.md). Every error is listed with its file and line; nothing "
        "is written unless all files are valid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", help="Directory holding the CSV files")
        parser.add_argument(
            "--user",
            required=True,
            help="Username of the person importing: named in the audit trail. For an "
            "existing trial they need the import permission in it; a new trial needs the "
            "permission to add trials, and they become its coordinator.",
        )
        parser.add_argument(
            "--trial", help="Code of an existing trial, when the directory has no trial.csv"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the files only; write nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(options["directory"])
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory")
        user = active_user(options["user"])
        files = read_directory(directory)
        if not files:
            raise CommandError(f"{directory} holds no CSV files")
        code = options["trial"] or declared_trial_code(files)
        trial = Trial.objects.filter(code=code).first() if code else None
        if options["trial"] and trial is None:
            raise CommandError(f"no trial with code {options['trial']!r}")
        if trial is not None and not permissions.has_perm(user, trial, Perm.IMPORT_DATA):
            raise CommandError(f"{user.get_username()} may not import data into {trial.code}")
        if trial is None and not user.has_perm("trial.add_trial"):
            raise CommandError(f"{user.get_username()} may not create trials")
        report = importing.import_trial(files, actor=user, trial=trial, dry_run=options["dry_run"])
        self._print(report)
        if not report.ok:
            raise CommandError(f"{len(report.errors)} error(s): nothing written", returncode=1)
        if report.dry_run:
            message = "valid (dry run): nothing written"
        elif report.written:
            message = f"imported: {report.created} created, {report.unchanged} unchanged"
        else:
            message = f"nothing to import: all {report.unchanged} rows are unchanged"
        self.stdout.write(self.style.SUCCESS(f"{report.trial_code}: {message}"))

    def _print(self, report: ImportReport) -> None:
        width = max((len(name) for name in report.files), default=10)
        self.stdout.write(f"{'file':<{width}}  {'new':>7}  {'unchanged':>9}  {'errors':>6}")
        for name in FILES:
            counts = report.files.get(name)
            if counts is not None:
                self.stdout.write(
                    f"{name:<{width}}  {counts.created:>7}  {counts.unchanged:>9}  "
                    f"{counts.errors:>6}"
                )
        for error in report.errors:
            self.stdout.write(str(error))
        for warning in report.warnings:
            self.stdout.write(f"warning: {warning}")
