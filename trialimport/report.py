"""What an import found and did: the row-level errors and warnings, counts per file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RowError:
    """One problem, where a spreadsheet shows it: the header is line 1; line 0 is the file."""

    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}" if self.line else self.file]
        if self.column:
            parts.append(self.column)
        parts.append(self.message)
        return ": ".join(parts)


@dataclass
class FileCounts:
    created: int = 0
    unchanged: int = 0
    errors: int = 0


@dataclass
class ImportReport:
    """What an import found and did. ``written`` is True only when the rows were committed."""

    trial_code: str = ""
    dry_run: bool = False
    files: dict[str, FileCounts] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    """Rows accepted with a warning (a value outside an eligibility range, when the trial
    accepts such values): they do not stop the import."""
    digests: dict[str, str] = field(default_factory=dict)
    written: bool = False
    # Called with the number of rows dealt with so far, as rows are counted or refused.
    on_row: Callable[[int], None] | None = field(default=None, repr=False, compare=False)
    _rows: int = field(default=0, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def created(self) -> int:
        return sum(counts.created for counts in self.files.values())

    @property
    def unchanged(self) -> int:
        return sum(counts.unchanged for counts in self.files.values())

    def error(self, file: str, line: int, column: str | None, message: str) -> None:
        self.errors.append(RowError(file, line, column or "", message))
        self.files.setdefault(file, FileCounts()).errors += 1
        self._tick()

    def warn(self, file: str, line: int, column: str | None, message: str) -> None:
        self.warnings.append(RowError(file, line, column or "", message))

    def count(self, file: str, *, created: bool, rows: int = 1) -> None:
        counts = self.files.setdefault(file, FileCounts())
        for _row in range(rows):
            if created:
                counts.created += 1
            else:
                counts.unchanged += 1
            self._tick()

    def _tick(self) -> None:
        self._rows += 1
        if self.on_row is not None:
            self.on_row(self._rows)

    def as_json(self, max_errors: int, mask: Callable[[str], str] = str) -> dict[str, Any]:
        """The report as stored for the browser import: counts, and the first ``max_errors``
        errors (``error_count`` gives them all), each message passed through ``mask``."""
        return {
            "trial_code": self.trial_code,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "created": self.created,
            "unchanged": self.unchanged,
            "written": self.written,
            "files": {
                name: {"created": c.created, "unchanged": c.unchanged, "errors": c.errors}
                for name, c in self.files.items()
            },
            "errors": [
                {"file": e.file, "line": e.line, "column": e.column, "message": mask(e.message)}
                for e in self.errors[:max_errors]
            ],
            "error_count": len(self.errors),
            "warnings": [
                {"file": w.file, "line": w.line, "column": w.column, "message": mask(w.message)}
                for w in self.warnings[:max_errors]
            ],
            "warning_count": len(self.warnings),
        }
