"""Check a STYRK-08 code list exported from SSB's KLASS and install it as the shipped list."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from occupations import styrk


class Command(BaseCommand):
    help = (
        "Replace occupations/data/styrk08.csv with a STYRK-08 list exported from SSB KLASS "
        "(classification 7) as CSV: columns code;parentCode;level;name (other columns are "
        "ignored; an optional name_en column keeps English titles). English titles of codes "
        "already in the shipped list are kept when the file has none. The file is checked "
        "first: every code's parent must be in it, one level up."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The KLASS CSV export")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and count only; write nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        codes = styrk.read_code_file(path)
        if not codes:
            raise CommandError("no codes found: is the header code;parentCode;level;name?")
        problems = [
            f"{o.code}: parent {o.parent!r} missing"
            for o in codes.values()
            if o.level > 1 and (o.parent not in codes or codes[o.parent].level != o.level - 1)
        ]
        problems += [
            f"{o.code}: level {o.level} but {len(o.code)} digits"
            for o in codes.values()
            if not o.code.isdigit() or len(o.code) != o.level
        ]
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"{len(problems)} problem(s); the list was not installed")
        counts = {
            level: sum(1 for o in codes.values() if o.level == level) for level in range(1, 5)
        }
        self.stdout.write("Codes by level: " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
        if options["dry_run"]:
            return
        current = styrk.codes()
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\n")
        writer.writerow(["code", "parentCode", "level", "name", "name_en"])
        for o in sorted(codes.values(), key=lambda o: (o.level, o.code)):
            english = o.name_en or (current[o.code].name_en if o.code in current else "")
            writer.writerow([o.code, o.parent, o.level, o.name_nb, english])
        styrk.DATA_FILE.write_text(out.getvalue(), encoding="utf-8")
        styrk.codes.cache_clear()
        self.stdout.write(f"Installed {len(codes)} codes in {styrk.DATA_FILE}")
