"""Anchor trials' allocation logs under the signing chain key (the first of
ALLOCATION_CHAIN_KEYS): once after the upgrade that introduced the key, and after a new key was
put first (rotation). Each anchor is an audit event and a witness line. Safe to repeat.

``--new-witness`` (after restoring a database backup older than the witness): the witness file
is renamed and kept, and a new one starts with the anchor (docs/backup.md)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.commands import active_user
from randomisation.allocation import verification
from trial.models import Trial
from trial.services import TrialError


class Command(BaseCommand):
    help = "Anchor allocation logs under the signing chain key (after an upgrade or rotation)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("trials", nargs="*", help="Trial codes")
        parser.add_argument("--all", action="store_true", help="Every trial with allocations.")
        parser.add_argument("--by", help="User name of who runs the command (for the audit).")
        parser.add_argument(
            "--new-witness",
            action="store_true",
            help="Keep the witness file aside and start a new one (after a restore).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if bool(options["trials"]) == options["all"]:
            raise CommandError("name trial codes, or give --all")
        actor = active_user(options["by"]) if options["by"] else None
        trials = Trial.objects.order_by("code")
        if options["all"]:
            trials = trials.filter(allocations__isnull=False).distinct()
        else:
            trials = trials.filter(code__in=options["trials"])
            unknown = set(options["trials"]) - set(trials.values_list("code", flat=True))
            if unknown:
                raise CommandError(f"no trial with code {', '.join(sorted(unknown))}")
        failed = 0
        for trial in trials:
            try:
                anchor = verification.anchor_chain(
                    trial, actor=actor, new_witness=options["new_witness"]
                )
            except TrialError as error:
                failed += 1
                self.stderr.write(f"{trial.code}: {error.message}")
                continue
            if anchor is None:
                self.stdout.write(f"{trial.code}: nothing to anchor")
            else:
                self.stdout.write(
                    f"{trial.code}: anchored at #{anchor.sequence} under key {anchor.key}"
                )
        if failed:
            raise CommandError(f"{failed} trial(s) not anchored")
