"""Print what a scheme's commitment hash covers, seed included, as canonical JSON.

For the unblinded statistician after the trial: publish the output, and anyone can check that
its SHA-256 equals the commitment hash published before the first allocation.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from randomisation import engine
from randomisation.schemes import services
from trial.models import Trial


class Command(BaseCommand):
    help = "Reveal a locked scheme's seed and lists (after the trial) to prove its commitment."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("trial", help="Trial code")
        parser.add_argument("--scheme-version", type=int, help="Scheme version (default: in force)")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Reveal although the trial is not closed (it unblinds every future allocation).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        trial = Trial.objects.filter(code=options["trial"]).first()
        if trial is None:
            raise CommandError(f"no trial with code {options['trial']!r}")
        if trial.status != Trial.Status.CLOSED and not options["force"]:
            raise CommandError(
                f"{trial.code} is not closed: revealing the seed would make every later "
                "allocation predictable (use --force if that is intended)"
            )
        schemes = trial.schemes.filter(status="locked")
        if options["scheme_version"]:
            schemes = schemes.filter(version=options["scheme_version"])
        scheme = schemes.order_by("-version").first()
        if scheme is None:
            raise CommandError("no locked scheme")
        text = engine.canonical_json(services.revealed_commitment(scheme))
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest != scheme.commitment_hash:
            raise CommandError("the stored scheme no longer gives its commitment hash")
        self.stdout.write(text)
        self.stderr.write(f"sha256 = {digest} (the published commitment hash)")
