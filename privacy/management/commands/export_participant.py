"""Right of access: write everything stored about one participant to a folder.

    manage.py export_participant TRIAL STUDY_ID --out DIR --by USERNAME

Writes ``TRIAL-STUDY_ID.json`` and one CSV per section (enrolment, covariates, screening,
visits, assessments, allocation, contacts, exposures, spells, withdrawal, loss to follow-up,
audit events). The personal number is decrypted in this export only, because it goes to the
person it belongs to. The run is audited (who and when, never the number).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy import services
from privacy.management.commands._actor import actor


class Command(BaseCommand):
    help = "Export all data stored about one participant (right of access) as JSON and CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("trial", help="The trial's short code.")
        parser.add_argument("study_id", help="The participant's study id.")
        parser.add_argument("--out", required=True, type=Path, help="Folder for the files.")
        parser.add_argument("--by", required=True, help="User name of who runs the export.")

    def handle(self, *args: Any, **options: Any) -> None:
        by = actor(options["by"])
        try:
            participant = services.find_participant(options["trial"], options["study_id"])
            written = services.export_participant(participant, options["out"], actor=by)
        except services.PrivacyError as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Exported {participant.study_id} to {len(written)} files in {options['out']}."
            )
        )
