import argparse
import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from trial import reminders


def iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-03-31") from None


class Command(BaseCommand):
    help = (
        "Send each caseworker one e-mail of their follow-up visits coming due and overdue. "
        "Runs daily from Celery beat; safe to run again, a digest already sent for the day "
        "is not sent twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--day",
            type=iso_date,
            default=None,
            help="The day the digests are for (YYYY-MM-DD); today by default.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Show who would get a digest and how many visits it lists; send nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        day: dt.date = options["day"] or timezone.localdate()
        dry_run: bool = options["dry_run"]
        try:
            summary = reminders.send_digests(day, dry_run=dry_run)
        except reminders.DigestDeliveryError as error:
            raise CommandError(f"{error}. Run again to send the rest.") from error
        verb = "would send" if dry_run else "sent"
        for digest in summary.digests:
            trials = ", ".join(t.trial_code for t in digest.trials)
            self.stdout.write(
                f"{verb} to {digest.user.get_username()}: {digest.visit_count} visits "
                f"({digest.overdue_count} overdue) in {trials}"
            )
        self.stdout.write(
            f"{day}: {len(summary.digests)} {verb}, {summary.already_sent} already sent, "
            f"{summary.nothing_due} with nothing due, {summary.without_email} without e-mail "
            "address."
        )
