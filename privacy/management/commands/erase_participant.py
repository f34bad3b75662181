"""Erase a withdrawn participant's personal data where their withdrawal allows it.

    manage.py erase_participant TRIAL STUDY_ID --reason TEXT --by USERNAME [--dry-run]

Only for a participant whose withdrawal scope is "remove data already collected". The
allocation record, the study id and the counts CONSORT reports stay; see
``privacy.services.erase_participant`` for what is removed. Atomic and audited.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy import services
from privacy.management.commands._actor import actor


class Command(BaseCommand):
    help = "Erase a withdrawn participant's personal data (keeps the allocation and the counts)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("trial", help="The trial's short code.")
        parser.add_argument("study_id", help="The participant's study id.")
        parser.add_argument("--reason", required=True, help="Why, e.g. the request's reference.")
        parser.add_argument("--by", required=True, help="User name of who runs the erasure.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be erased."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        by = actor(options["by"])
        try:
            participant = services.find_participant(options["trial"], options["study_id"])
            report = services.erase_participant(
                participant, reason=options["reason"], actor=by, dry_run=options["dry_run"]
            )
        except services.PrivacyError as error:
            raise CommandError(error.message) from None
        summary = ", ".join(f"{name} {count}" for name, count in report.counts.items())
        verb = "Would erase" if report.dry_run else "Erased"
        self.stdout.write(self.style.SUCCESS(f"{verb} for {participant.study_id}: {summary}."))
