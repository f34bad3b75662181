"""Re-encrypt every stored personal number with the current (first) key of FIELD_ENCRYPTION_KEYS.

Key rotation: put the new key first in FIELD_ENCRYPTION_KEYS, keep the old ones after it, run
this command, then remove the old keys. Rows are rewritten in batches, each in its own
transaction with the rows locked, so the command can be stopped and run again; a row that no key
can decrypt stops the command with its study id (never the number) and leaves that batch as it
was.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from trial import personal_numbers
from trial.models import Participant

BATCH = 500


def _current_key_reads(token: str) -> bool:
    """Whether the token was written with the first key (what rotation leaves behind)."""
    try:
        Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode()).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


class Command(BaseCommand):
    help = (
        "Re-encrypt all stored personal numbers with the first key of FIELD_ENCRYPTION_KEYS "
        "(key rotation). Safe to stop and run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Only count the numbers not yet encrypted with the first key; change nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stored = Participant.objects.exclude(personal_number_encrypted="").order_by("pk")
        if options["check"]:
            stale = sum(
                1
                for token in stored.values_list("personal_number_encrypted", flat=True).iterator()
                if not _current_key_reads(token)
            )
            self.stdout.write(
                f"{stale} of {stored.count()} stored personal numbers use an older key."
            )
            return
        rewritten = 0
        last = 0
        while True:
            with transaction.atomic():
                rows = list(
                    stored.filter(pk__gt=last)
                    .select_for_update()
                    .only("pk", "study_id", "personal_number_encrypted")[:BATCH]
                )
                if not rows:
                    break
                for row in rows:
                    try:
                        row.personal_number_encrypted = personal_numbers.reencrypt(
                            row.personal_number_encrypted
                        )
                    except InvalidToken:
                        raise CommandError(
                            f"No key in FIELD_ENCRYPTION_KEYS decrypts the personal number of "
                            f"{row.study_id}; nothing in its batch was changed."
                        ) from None
                Participant.objects.bulk_update(rows, ["personal_number_encrypted"])
                rewritten += len(rows)
                last = rows[-1].pk
        self.stdout.write(
            self.style.SUCCESS(f"Re-encrypted {rewritten} personal numbers with the first key.")
        )
