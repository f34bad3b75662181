"""What the two dictionary formats share: the file read into one definition per instrument
(:class:`ParsedFile`, :class:`ParsedInstrument`), its problems by row and column
(:class:`Problem`), decoding and splitting the CSV text, and lists of codes with labels.

``instruments.dictionary.csvio`` reads and writes our format, ``instruments.dictionary.redcap``
reads REDCap's; both read into what is defined here, and ``instruments.dictionary.services``
checks and imports it.

Lists of codes with labels (choices, missing-data codes, score bands) are written as REDCap
writes choices: ``1, Not at all | 2, Several days``. A code never holds a comma, a space or
``|``; a label is everything after the first comma, with ``|`` written ``\\|`` and ``\\`` written
``\\\\`` so that any label reads back as it was.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from instruments.definition import Text
from trial.text import printable, unstorable_character

OWN = "own"
REDCAP = "redcap"
MAX_FILE_BYTES = 1024 * 1024
INSTRUMENT_CODE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@dataclass(frozen=True)
class Problem:
    """A fault (or a warning) of a dictionary file: its row as a spreadsheet numbers it (row 1 is
    the header; None for the file as a whole), the column, and what is wrong."""

    row: int | None
    column: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}

    def __str__(self) -> str:
        where = _("Row %(row)s") % {"row": self.row} if self.row is not None else _("File")
        return (
            f"{where}, {self.column}: {self.message}" if self.column else f"{where}: {self.message}"
        )


@dataclass
class ParsedInstrument:
    """One instrument as a file describes it, with the row of each item and scale so that a
    fault found later can be shown where it is."""

    code: str
    name_en: str
    name_nb: str
    first_row: int
    items: list[dict[str, Any]] = field(default_factory=list)
    item_rows: list[int] = field(default_factory=list)
    scales: list[dict[str, Any]] = field(default_factory=list)
    scale_rows: list[int] = field(default_factory=list)
    missing_codes: list[dict[str, Any]] = field(default_factory=list)
    visits: tuple[str, ...] | None = None
    """Visit codes to ask it at; None when the file does not say (existing links are kept)."""
    keep_names: bool = False
    """The file has no names of its own for the instrument (REDCap): an existing instrument's
    names stay."""

    def definition(self) -> dict[str, Any]:
        data: dict[str, Any] = {"items": self.items}
        if self.scales:
            data["scales"] = self.scales
        if self.missing_codes:
            data["missing_codes"] = self.missing_codes
        return data

    def where(self, fault: str) -> tuple[int, str]:
        """The row and definition field of a ``check_definition`` fault (``items[2].choices``,
        ``scales[0].items``, ``missing_codes[1].code``, ``items``)."""
        match = re.match(r"^(items|scales|missing_codes)(?:\[(\d+)\])?(?:\.(\w+))?", fault)
        if match is None:
            return self.first_row, "items"
        group, index, name = match.group(1), match.group(2), match.group(3) or ""
        if group == "items" and index is not None:
            return self.item_rows[int(index)], name or "name"
        if group == "scales" and index is not None:
            return self.scale_rows[int(index)], f"scale.{name or 'name'}"
        return self.first_row, group


@dataclass
class ParsedFile:
    """A dictionary file read: its instruments, the problems found on the way (errors block the
    import, warnings do not), and the names of its columns for each definition field."""

    format: str
    instruments: list[ParsedInstrument] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    covariates: list[tuple[int, str]] = field(default_factory=list)
    """(row, name) of the rows describing baseline covariates (our format only)."""
    variable_column: str = "variable"
    instrument_column: str = "instrument"

    def error(self, row: int | None, column: str, message: str) -> None:
        self.errors.append(Problem(row, column, message))

    def warn(self, row: int | None, column: str, message: str) -> None:
        self.warnings.append(Problem(row, column, message))

    def column_of(self, name: str) -> str:
        return self.fields.get(name, self.fields.get(name.split(".")[-1], ""))


def decode(data: bytes | str) -> str:
    """UTF-8 (with or without a byte-order mark), else Windows-1252, as spreadsheets save."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_table(text: str, parsed: ParsedFile) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the rows of a CSV text, each row with its number as a spreadsheet counts
    it (the header is row 1; a blank line is a row). Comma or semicolon separated (sniffed from
    the header). Faults go to ``parsed``; rows with a character the database cannot store are
    left out."""
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        parsed.error(None, "", _("The file cannot be read as CSV: %(error)s") % {"error": exc})
        return [], []
    if not records or not any(cell.strip() for cell in records[0]):
        parsed.error(1, "", _("The file is empty: the first row must name the columns."))
        return [], []
    header = [printable(cell.strip()) for cell in records[0]]
    rows: list[tuple[int, list[str]]] = []
    for index, cells in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        bad = next(
            (
                (header[i] if i < len(header) else "", unstorable_character(cell))
                for i, cell in enumerate(cells)
                if unstorable_character(cell)
            ),
            None,
        )
        if bad is not None:
            parsed.error(
                index,
                bad[0],
                _("Contains a character that is not allowed: %(character)s.")
                % {"character": bad[1]},
            )
            continue
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            parsed.error(index, "", _("The row has more cells than the header has columns."))
            continue
        rows.append((index, (cells + [""] * len(header))[: len(header)]))
    return header, rows


# --- lists of codes with labels ----------------------------------------------------------------


def _escape(label: str) -> str:
    return label.replace("\\", "\\\\").replace("|", "\\|")


def format_pairs(pairs: Iterable[tuple[str, str]]) -> str:
    """``code, label | code, label`` (a label's ``|`` and ``\\`` escaped)."""
    return " | ".join(f"{code}, {_escape(label)}" if label else f"{code}," for code, label in pairs)


def _split(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in "\\|":
            current.append(text[index + 1])
            index += 2
            continue
        if char == "|":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    return parts


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """The (code, label) pairs of ``code, label | code, label``; the code is what comes before
    the first comma. Raises ValueError naming a part without a comma."""
    if not text.strip():
        return []
    pairs = []
    for part in _split(text):
        if not part.strip():
            continue
        code, comma, label = part.partition(",")
        if not comma or not code.strip():
            raise ValueError(
                _("Write each choice as 'code, label', separated by '|': %(part)s")
                % {"part": part.strip()}
            )
        pairs.append((code.strip(), label.strip()))
    return pairs


def bilingual(en: str, nb: str) -> list[tuple[str, Text]]:
    """Codes with labels from an English and a Norwegian list; either may be blank (its labels
    are then blank), otherwise both must list the same codes in the same order. Raises
    ValueError."""
    english, norwegian = parse_pairs(en), parse_pairs(nb)
    if english and norwegian and [c for c, _l in english] != [c for c, _l in norwegian]:
        raise ValueError(_("The English and Norwegian lists must have the same codes in order."))
    if not english:
        return [(code, Text("", label)) for code, label in norwegian]
    labels = dict(norwegian)
    return [(code, Text(label, labels.get(code, ""))) for code, label in english]
