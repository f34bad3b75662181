"""Reading one CSV file of an import against its columns: the header (unknown, missing or
repeated columns), each value's type, characters the database cannot store, and the same
subject twice in a file. Every problem goes into the report with its line and column."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from trial.text import printable, unstorable_character
from trialimport.columns import KEYS, TRIAL, Column, fresh, not_allowed
from trialimport.report import ImportReport


@dataclass
class Row:
    line: int
    values: dict[str, Any]


@dataclass
class Table:
    """One file's valid rows, the columns it has, and the subjects of all its rows."""

    name: str
    columns: set[str] = field(default_factory=set)
    rows: list[Row] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    """Subjects (study ids, codes) named on any row, valid or not."""
    invalid_keys: set[str] = field(default_factory=set)
    """Subjects of rows with an error: rows depending on them in other files are skipped."""

    def keep_valid(self, check: Any) -> None:
        """Keep the rows ``check`` accepts (it reports why it refuses one)."""
        self.rows = [row for row in self.rows if check(row)]


def read_directory(path: Path) -> dict[str, bytes]:
    """The CSV files of a directory, by file name."""
    return {item.name: item.read_bytes() for item in sorted(path.glob("*.csv")) if item.is_file()}


def declared_trial_code(files: Mapping[str, bytes]) -> str | None:
    """The trial code trial.csv gives, if it can be read; the import reports any problem."""
    data = files.get(TRIAL)
    if data is None:
        return None
    try:
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    except (UnicodeDecodeError, csv.Error):
        return None
    code = (rows[0].get("code") or "").strip() if rows else ""
    if unstorable_character(code) is not None:
        return None  # no trial has such a code; the row's own error says why
    return code or None


def _records(name: str, data: bytes, report: ImportReport) -> tuple[str, list[list[str]]] | None:
    """The file's text and its records; None (reported) when it is not UTF-8 CSV or empty."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        report.error(name, line, None, _("The file is not UTF-8 text."))
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = list(reader)
    except csv.Error as exc:
        report.error(name, reader.line_num, None, _("Not valid CSV: %(error)s") % {"error": exc})
        return None
    if not records or not any(cell.strip() for cell in records[0]):
        report.error(name, 1, None, _("The file is empty: a header row is required."))
        return None
    return text, records


def _check_header(
    name: str,
    header: list[str],
    spec: Mapping[str, Column],
    report: ImportReport,
    *,
    check_characters: bool,
    required_extra: Iterable[str],
    unknown: Callable[[str], str | None],
) -> bool:
    """Report the header's problems; whether the file can be read on."""
    usable = True
    seen: set[str] = set()
    for column in header:
        if not column:
            report.error(name, 1, None, _("A column has no name."))
            usable = False
            continue
        character = unstorable_character(column) if check_characters else None
        if character is not None:
            report.error(name, 1, printable(column), not_allowed(character))
            usable = False
            continue
        if column in seen:
            report.error(name, 1, column, _("This column appears twice."))
            usable = False
        seen.add(column)
        if column not in spec:
            report.error(name, 1, column, unknown(column) or _("Unknown column."))
    missing = [c.name for c in spec.values() if c.required and c.name not in seen]
    missing += [key for key in required_extra if key not in seen]
    for column in missing:
        report.error(name, 1, column, _("This column is missing."))
    return usable and not missing


def read_table(
    name: str,
    data: bytes,
    spec: Mapping[str, Column],
    report: ImportReport,
    *,
    required_extra: Iterable[str] = (),
    unknown: Callable[[str], str | None] | None = None,
) -> Table | None:
    """Parse one file against ``spec``; None when its header is unusable. ``unknown`` gives
    the message for a column that is not in ``spec`` but known otherwise (a scale score), or
    None for the usual one."""
    found = _records(name, data, report)
    if found is None:
        return None
    text, records = found
    header = [cell.strip() for cell in records[0]]
    # Characters the database cannot store (NUL) are an error on their cell; one C-speed
    # scan of the text when the file has none.
    check_characters = unstorable_character(text) is not None
    if not _check_header(
        name,
        header,
        spec,
        report,
        check_characters=check_characters,
        required_extra=required_extra,
        unknown=unknown or _no_message,
    ):
        return None
    table = Table(name, columns={column for column in header if column in spec})
    key_column = KEYS.get(name)
    first_line: dict[str, int] = {}
    for line, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank lines between rows are harmless
        if len(record) != len(header):
            report.error(
                name,
                line,
                None,
                _("The row has %(n)s values; the header has %(m)s columns.")
                % {"n": len(record), "m": len(header)},
            )
            position = header.index(key_column) if key_column else len(record)
            if key_column and position < len(record):
                key = record[position].strip()
                table.keys.add(key)
                table.invalid_keys.add(key)
            continue
        raw = {column: cell.strip() for column, cell in zip(header, record, strict=True)}
        errors_before = len(report.errors)
        if check_characters and _unstorable(name, line, raw, report):
            values: dict[str, Any] = {}
        else:
            values = _parse_row(name, line, raw, spec, report)
        key = raw.get(key_column, "") if key_column else ""
        if key_column:
            table.keys.add(key)
            if key and key in first_line:
                report.error(
                    name,
                    line,
                    key_column,
                    _("%(key)s appears already on line %(line)s.")
                    % {"key": printable(key), "line": first_line[key]},
                )
            first_line.setdefault(key, line)
        if len(report.errors) > errors_before:
            table.invalid_keys.add(key)
            continue
        table.rows.append(Row(line, values))
    return table


def _no_message(column: str) -> str | None:
    return None


def _unstorable(name: str, line: int, raw: dict[str, str], report: ImportReport) -> bool:
    """Report each cell of the row holding a character the database cannot store; the row
    is then parsed no further. Whether there was one."""
    found = False
    for column, text in raw.items():
        character = unstorable_character(text)
        if character is not None:
            report.error(name, line, column, not_allowed(character))
            found = True
    return found


def _parse_row(
    name: str, line: int, raw: dict[str, str], spec: Mapping[str, Column], report: ImportReport
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for column in spec.values():
        if column.name not in raw:
            values[column.name] = fresh(column.default)
            continue
        text = raw[column.name]
        if not text:
            if column.blank:
                values[column.name] = fresh(column.default)
            else:
                report.error(name, line, column.name, _("This value is required."))
            continue
        try:
            values[column.name] = column.parse(text)
        except ValidationError as exc:
            report.error(name, line, column.name, " ".join(exc.messages))
        except ValueError as exc:
            report.error(name, line, column.name, str(exc))
    return values
