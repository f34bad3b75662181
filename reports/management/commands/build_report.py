"""Build a report synchronously, with the same pipeline as the Celery task.

    python manage.py build_report TRIAL --kind effect --out DIR [--cut-off YYYY-MM-DD]
        [--seed N] [--blinded] [--language nb] [--format csv --format spss ...]
        [--drop-free-text] [--shift-dates DAYS] [--hash-ids none|export|trial]

The plan in force is used (locked, else the draft). Without --seed the seed is derived as for a
report ordered in the browser, so the numbers match a report ordered for the same cut-off. The
data sets are written in the formats and with the de-identification asked for (CSV and Stata,
as they are, by default), and the export is recorded in the trial's audit trail.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone, translation

from reports import exports, pipeline, services
from trial.models import Trial


class Command(BaseCommand):
    help = "Build a report (PDF and ZIP) synchronously into a folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("trial", help="the trial's short code")
        parser.add_argument("--kind", default="effect", help=f"one of {', '.join(pipeline.KINDS)}")
        parser.add_argument("--out", required=True, help="folder for the PDF and the ZIP")
        parser.add_argument("--cut-off", help="data cut-off date (default: today)")
        parser.add_argument("--seed", type=int, help="random seed (default: derived)")
        parser.add_argument(
            "--blinded", action="store_true", help="show arms as codes, as for a blinded user"
        )
        parser.add_argument(
            "--language",
            default=settings.LANGUAGE_CODE,
            choices=[code for code, _name in settings.LANGUAGES],
            help="the report's language (the data sets keep English variable names)",
        )
        parser.add_argument(
            "--format",
            action="append",
            dest="formats",
            choices=list(exports.FORMATS),
            help="a file format of the data sets; repeat for several (default: csv and stata)",
        )
        parser.add_argument(
            "--drop-free-text", action="store_true", help="leave out the free-text items"
        )
        parser.add_argument(
            "--shift-dates",
            type=int,
            default=0,
            metavar="DAYS",
            help="shift each participant's dates by 1 to DAYS days, earlier or later",
        )
        parser.add_argument(
            "--hash-ids",
            default=exports.KEEP,
            choices=list(exports.HASH_CHOICES),
            help="replace study ids by a keyed hash for this export or shared by the trial",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        trial = Trial.objects.filter(code=options["trial"]).first()
        if trial is None:
            raise CommandError(f"no trial with code {options['trial']!r}")
        if options["kind"] not in pipeline.KINDS:
            raise CommandError(
                f"unknown kind {options['kind']!r}; choose from {', '.join(pipeline.KINDS)}"
            )
        try:
            cut_off = (
                dt.date.fromisoformat(options["cut_off"])
                if options["cut_off"]
                else timezone.localdate()
            )
        except ValueError:
            raise CommandError(f"--cut-off {options['cut_off']!r} is not a date") from None
        try:
            export = exports.check_options(
                formats=options["formats"],
                drop_free_text=options["drop_free_text"],
                date_shift_days=options["shift_dates"],
                hash_study_ids=options["hash_ids"],
            )
        except exports.ExportOptionsError as error:
            raise CommandError(error.message) from None
        plan = pipeline.plan_in_force(trial)
        seed = options["seed"]
        if seed is None:
            seed = pipeline.default_seed(trial, options["kind"], cut_off, plan)
        spec = pipeline.BuildSpec(
            trial=trial,
            kind=options["kind"],
            cut_off=cut_off,
            seed=seed,
            blinded=options["blinded"],
            plan=plan,
            options={"seed": seed, **export.to_options()},
            ordered_by="manage.py build_report",
        )

        def progress(stage: str, percent: int) -> None:
            self.stderr.write(f"{percent:3d} % {stage}")

        try:
            with translation.override(options["language"]):
                result = pipeline.build(spec, Path(options["out"]), progress=progress)
        except pipeline.ReportBuildError as error:
            raise CommandError(str(error)) from None
        services.record_command_build(spec, result)
        if result.pdf:
            self.stdout.write(f"PDF: {result.pdf}")
        self.stdout.write(f"ZIP: {result.zip}")
        self.stdout.write(f"data snapshot SHA-256: {result.snapshot_hash}")
        self.stdout.write(f"seed: {seed}")
        timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.timings.items())
        self.stdout.write(f"time: {timings}")
