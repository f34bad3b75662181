"""Check a trial's allocation log: the hash chain, every MAC under the chain keys, the anchors,
the witness outside the database, the commitments and the sealed lists. Exit 1 on any problem,
naming the first allocation where they disagree."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from randomisation.allocation import verification
from trial.models import Trial


class Command(BaseCommand):
    help = (
        "Verify a trial's allocation log: hash chain, MACs, anchors, witness, commitments and "
        "sealed lists."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("trial", help="Trial code")

    def handle(self, *args: Any, **options: Any) -> None:
        trial = Trial.objects.filter(code=options["trial"]).first()
        if trial is None:
            raise CommandError(f"no trial with code {options['trial']!r}")
        result = verification.verify(trial)
        for line in _summary(result):
            self.stdout.write(line)
        for note in result.notes:
            self.stdout.write(note)
        if result.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{trial.code}: {result.checked} allocations verified; chain, MACs, "
                    "anchors, witness, commitments and sealed lists intact"
                )
            )
            return
        for problem in result.problems:
            self.stderr.write(problem)
        first = f"first broken link: #{result.first_broken}; " if result.first_broken else ""
        raise CommandError(f"{trial.code}: {first}{len(result.problems)} problem(s) found")


def _summary(result: verification.Verification) -> list[str]:
    lines = []
    if result.anchored_to and result.anchored_on:
        when = timezone.localtime(result.anchored_on).strftime("%Y-%m-%d %H:%M")
        lines.append(f"#1-#{result.anchored_to} vouched for by the anchor of {when}")
    if result.signed_from is not None:
        lines.append(f"keyed chain (HMAC) from #{result.signed_from}")
    point = result.checkpoint
    if point is not None:
        when = timezone.localtime(point.at).strftime("%Y-%m-%d %H:%M")
        lines.append(
            f"latest witness checkpoint: #{point.sequence}, head {point.short_head}, {when} "
            f"({point.kind})"
        )
    return lines
