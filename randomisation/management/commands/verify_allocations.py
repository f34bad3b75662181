"""Recompute a trial's allocation chain, commitments and sealed lists; exit 1 on any break."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from randomisation import services
from trial.models import Trial


class Command(BaseCommand):
    help = "Verify the hash chain of a trial's allocations and the sealed lists behind them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("trial", help="Trial code")

    def handle(self, *args: Any, **options: Any) -> None:
        trial = Trial.objects.filter(code=options["trial"]).first()
        if trial is None:
            raise CommandError(f"no trial with code {options['trial']!r}")
        result = services.verify(trial)
        if result.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{trial.code}: {result.checked} allocations verified; chain, commitments "
                    "and sealed lists intact"
                )
            )
            return
        for problem in result.problems:
            self.stderr.write(problem)
        first = f"first broken link: #{result.first_broken}; " if result.first_broken else ""
        raise CommandError(f"{trial.code}: {first}{len(result.problems)} problem(s) found")
