from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.seed import seed_demo
from trial.demo import DEMO_PASSWORD
from trial.models import Trial


class Command(BaseCommand):
    help = "Create the synthetic demo trial (IPS-like, 2 arms, 12 NAV offices) and demo users."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--participants", type=int, default=600)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing if the database holds any trial already (used by `make run`).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["participants"] < 0:
            raise CommandError("--participants must be zero or more")
        if options["if_empty"] and Trial.objects.exists():
            self.stdout.write("The database holds trials already; demo data not loaded.")
            return
        try:
            result = seed_demo(participants=options["participants"], seed=options["seed"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Demo trial {result.trial.code!r}: {result.participants} participants. "
            f"Logins (password {DEMO_PASSWORD}): {', '.join(result.users)}"
        )
