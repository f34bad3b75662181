"""The data dictionary as a CSV file: written from :func:`variables`, read back into one
definition per instrument, so that export, import into an empty trial and export again give
the same file.

One row per item or scale score (docs/import-formats.md, "Data dictionary files", describes every
column). Lists of codes with labels (choices, missing-data codes, score bands) are written as
REDCap writes choices, one language per column (``instruments.dictionary.files`` says how, and
holds what this format and REDCap's are read into). Every cell goes through
``trial.text.spreadsheet_cell``; reading takes the apostrophe it adds off again.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from instruments.definition import ItemType, ScaleMethod, Text
from instruments.dictionary.files import (
    INSTRUMENT_CODE,
    OWN,
    ParsedFile,
    ParsedInstrument,
    bilingual,
    decode,
    format_pairs,
    read_table,
)
from instruments.dictionary.variables import COVARIATES, SCORE, Variable, variables
from trial.models import Trial
from trial.text import spreadsheet_cell

COLUMNS = (
    "variable",
    "instrument",
    "instrument_name_en",
    "instrument_name_nb",
    "version",
    "visits",
    "type",
    "kind",
    "label_en",
    "label_nb",
    "note_en",
    "note_nb",
    "choices_en",
    "choices_nb",
    "unit",
    "decimals",
    "min",
    "max",
    "required",
    "show_if",
    "pattern",
    "max_length",
    "score_items",
    "score_method",
    "score_reverse",
    "score_max_missing",
    "score_multiplier",
    "score_bands_en",
    "score_bands_nb",
    "score_library",
    "missing_codes_en",
    "missing_codes_nb",
    "data_columns",
)
REQUIRED_COLUMNS = ("variable", "instrument", "type")
INSTRUMENT_COLUMNS = (
    "instrument_name_en",
    "instrument_name_nb",
    "visits",
    "missing_codes_en",
    "missing_codes_nb",
)
"""Columns that describe the instrument, not the row: repeated on every row of it when written;
when read, blank cells are passed over and the others must agree."""
ITEM_ONLY = (
    "note_en",
    "note_nb",
    "choices_en",
    "choices_nb",
    "unit",
    "min",
    "max",
    "required",
    "show_if",
    "pattern",
    "max_length",
)
SCORE_ONLY = tuple(c for c in COLUMNS if c.startswith("score_"))
DEFAULT_MAX_LENGTH = 500
_YES = {"yes", "y", "ja", "j", "1", "true", "x"}
_NO = {"", "no", "n", "nei", "0", "false"}
_QUOTED_FORMULA = re.compile(r"^'+[=+\-@\t\r]")

# Where check_definition's faults (``items[2].choices``) are shown in our format.
OWN_FIELDS = {
    "name": "variable",
    "label": "label_en",
    "choices": "choices_en",
    "min": "min",
    "max": "max",
    "decimals": "decimals",
    "pattern": "pattern",
    "show_if": "show_if",
    "scale.name": "variable",
    "scale.items": "score_items",
    "scale.reverse": "score_reverse",
    "scale.max_missing": "score_max_missing",
    "missing_codes": "missing_codes_en",
    "items": "instrument",
}


# --- writing -----------------------------------------------------------------------------------


def _pairs_of(entries: Iterable[tuple[str, Text]]) -> tuple[str, str]:
    listed = list(entries)
    en = format_pairs((code, text.en) for code, text in listed)
    nb = format_pairs((code, text.nb) for code, text in listed)
    if not any(text.nb for _c, text in listed):
        nb = ""
    if not any(text.en for _c, text in listed) and nb:
        en = ""
    return en, nb


def _plain(number: Decimal | None) -> str:
    return "" if number is None else format(number.normalize(), "f")


def cell(value: str) -> str:
    """A cell safe to open in a spreadsheet that reads back as ``value`` (:func:`uncell`)."""
    safe = spreadsheet_cell(value)
    if safe == value and _QUOTED_FORMULA.match(value):
        return "'" + value  # a value starting with apostrophes and a formula sign keeps them all
    return str(safe)


def uncell(value: str) -> str:
    return value[1:] if _QUOTED_FORMULA.match(value) else value


def variable_row(variable: Variable, missing: tuple[str, str]) -> dict[str, str]:
    """One row of our format for one variable; ``missing``: the instrument's missing-data
    codes as (English, Norwegian) lists."""
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        variable=variable.name,
        instrument=variable.instrument_code,
        instrument_name_en=variable.instrument_name.en,
        instrument_name_nb=variable.instrument_name.nb,
        version=str(variable.instrument_version),
        visits=", ".join(variable.visits),
        type=variable.item_type,
        kind=str(variable.kind),
        label_en=variable.label.en,
        label_nb=variable.label.nb,
        missing_codes_en=missing[0],
        missing_codes_nb=missing[1],
        # Written for information, not read: the columns of a multiple choice in the data sets.
        data_columns=format_pairs((i.code, i.column) for i in variable.indicators),
    )
    item, scale = variable.item, variable.scale
    if item is not None:
        choices_en, choices_nb = _pairs_of((c.code, c.label) for c in item.choices)
        row.update(
            note_en=item.note.en,
            note_nb=item.note.nb,
            choices_en=choices_en,
            choices_nb=choices_nb,
            unit=item.unit,
            decimals="" if item.decimals is None else str(item.decimals),
            min=_plain(item.minimum),
            max=_plain(item.maximum),
            required="yes" if item.required else "",
            show_if=item.show_if,
            pattern=item.pattern,
            max_length=str(item.max_length)
            if item.type == ItemType.TEXT and item.max_length != DEFAULT_MAX_LENGTH
            else "",
        )
    if scale is not None:
        bands_en, bands_nb = _pairs_of((_plain(b.minimum), b.label) for b in scale.bands)
        row.update(
            decimals=str(scale.decimals),
            score_items=", ".join(scale.items),
            score_method=str(scale.method),
            score_reverse=", ".join(scale.reverse),
            score_max_missing=str(scale.max_missing),
            score_multiplier="" if scale.multiplier == 1 else _plain(scale.multiplier),
            score_bands_en=bands_en,
            score_bands_nb=bands_nb,
            score_library=scale.library,
        )
    return row


def dictionary_rows(trial: Trial) -> list[dict[str, str]]:
    """Our format's rows for the trial: the latest version of every instrument, then the
    baseline covariates."""
    current = [v for v in variables(trial) if v.current]
    missing: dict[str, tuple[str, str]] = {}
    for variable in current:
        if variable.item is not None and variable.instrument_code not in missing:
            missing[variable.instrument_code] = _pairs_of(variable.missing_codes.items())
    return [variable_row(v, missing.get(v.instrument_code, ("", ""))) for v in current]


def write_rows(rows: Iterable[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([cell(row[column]) for column in COLUMNS])
    return out.getvalue()


def write_dictionary(trial: Trial) -> str:
    """The trial's data dictionary as our CSV format (UTF-8 text)."""
    return write_rows(dictionary_rows(trial))


# --- reading -----------------------------------------------------------------------------------


def _number(text: str) -> Decimal:
    try:
        number = Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise ValueError(_("Enter a number.")) from None
    if not number.is_finite():
        raise ValueError(_("Enter a number."))
    return number


def _whole(text: str) -> int:
    if not re.fullmatch(r"\d{1,6}", text):
        raise ValueError(_("Enter a whole number, 0 or more."))
    return int(text)


def names_list(text: str) -> list[str]:
    """Names or codes separated by commas or spaces."""
    return [part for part in re.split(r"[,\s]+", text) if part]


class _Row:
    """One data row of our format, read cell by cell; faults go to the file."""

    def __init__(self, parsed: ParsedFile, number: int, cells: dict[str, str]) -> None:
        self.parsed = parsed
        self.number = number
        self.cells = cells

    def __getitem__(self, column: str) -> str:
        return self.cells.get(column, "")

    def fail(self, column: str, message: str) -> None:
        self.parsed.error(self.number, column, message)

    def number_of(self, column: str) -> str | None:
        if not self[column]:
            return None
        try:
            return _plain(_number(self[column]))
        except ValueError as exc:
            self.fail(column, str(exc))
            return None

    def whole(self, column: str) -> int | None:
        if not self[column]:
            return None
        try:
            return _whole(self[column])
        except ValueError as exc:
            self.fail(column, str(exc))
            return None

    def pairs(self, column: str) -> list[dict[str, Any]]:
        stem = column.removesuffix("_en")
        try:
            listed = bilingual(self[f"{stem}_en"], self[f"{stem}_nb"])
        except ValueError as exc:
            self.fail(column, str(exc))
            return []
        return [{"code": code, "label": label.to_json()} for code, label in listed]


def _type_names() -> str:
    return ", ".join([*(str(t) for t in ItemType), SCORE])


def read_dictionary(data: bytes | str) -> ParsedFile:
    """Our format read into one definition per instrument (not yet checked against the
    definition rules or the trial: ``instruments.dictionary.services`` does that)."""
    parsed = ParsedFile(format=OWN, fields=dict(OWN_FIELDS))
    header, rows = read_table(decode(data), parsed)
    if not header:
        return parsed
    from instruments.dictionary.redcap import looks_like_redcap

    if looks_like_redcap(header):
        parsed.error(
            1, "", _("This is a REDCap data dictionary: choose the REDCap format to import it.")
        )
        return parsed
    for index, name in enumerate(header):
        if name not in COLUMNS:
            parsed.error(1, name, _("Unknown column."))
        elif header.index(name) != index:
            parsed.error(1, name, _("The column appears twice."))
    for name in REQUIRED_COLUMNS:
        if name not in header:
            parsed.error(1, name, _("The column is missing."))
    if parsed.errors:
        return parsed

    by_code: dict[str, ParsedInstrument] = {}
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    for number, cells in rows:
        row = _Row(
            parsed,
            number,
            {name: uncell(value).strip() for name, value in zip(header, cells, strict=True)},
        )
        code = row["instrument"]
        if not INSTRUMENT_CODE.match(code):
            row.fail(
                "instrument",
                _("Give the instrument's code: letters, digits, - and _ (at most 40)."),
            )
            continue
        if code == COVARIATES:
            parsed.covariates.append((number, row["variable"]))
            continue
        instrument = by_code.get(code)
        if instrument is None:
            instrument = ParsedInstrument(code=code, name_en="", name_nb="", first_row=number)
            by_code[code] = instrument
            parsed.instruments.append(instrument)
        _instrument_cells(row, instrument, seen)
        kind = row["type"].lower()
        if kind == SCORE:
            _score_row(row, instrument)
        elif kind in {str(t) for t in ItemType}:
            _item_row(row, instrument, kind)
        else:
            row.fail(
                "type",
                _("Unknown type %(type)s: use one of %(types)s.")
                % {"type": row["type"] or "–", "types": _type_names()},
            )
    for instrument in parsed.instruments:
        if not instrument.name_en and not instrument.name_nb:
            instrument.name_en = instrument.code
    return parsed


def _instrument_cells(
    row: _Row, instrument: ParsedInstrument, seen: dict[tuple[str, str], tuple[int, str]]
) -> None:
    """The instrument-level cells of a row: blank ones are passed over, others must agree with
    the instrument's earlier rows."""
    for column in INSTRUMENT_COLUMNS:
        value = row[column]
        if not value:
            continue
        key = (instrument.code, column)
        if key in seen:
            first_row, first_value = seen[key]
            if value != first_value:
                row.fail(
                    column,
                    _("Differs from row %(row)s of the same instrument: %(value)s")
                    % {"row": first_row, "value": first_value},
                )
            continue
        seen[key] = (row.number, value)
        if column == "instrument_name_en":
            instrument.name_en = value
        elif column == "instrument_name_nb":
            instrument.name_nb = value
        elif column == "visits":
            instrument.visits = tuple(names_list(value))
    if (row["missing_codes_en"] or row["missing_codes_nb"]) and not instrument.missing_codes:
        instrument.missing_codes = row.pairs("missing_codes_en")


def _item_row(row: _Row, instrument: ParsedInstrument, kind: str) -> None:
    for column in SCORE_ONLY:
        if row[column]:
            row.fail(column, _("Only a score row has this column."))
    required = row["required"].lower()
    if required not in _YES | _NO:
        row.fail("required", _("Write yes, or leave it empty."))
    item: dict[str, Any] = {
        "name": row["variable"],
        "type": kind,
        "label": {"en": row["label_en"], "nb": row["label_nb"]},
        "required": required in _YES,
        "choices": row.pairs("choices_en"),
        "min": row.number_of("min"),
        "max": row.number_of("max"),
        "decimals": row.whole("decimals"),
        "unit": row["unit"],
        "pattern": row["pattern"],
        "show_if": row["show_if"],
        "note": {"en": row["note_en"], "nb": row["note_nb"]},
    }
    max_length = row.whole("max_length")
    if max_length is not None:
        if kind != ItemType.TEXT or max_length < 1:
            row.fail("max_length", _("Only a text item has a maximum length (1 or more)."))
        else:
            item["max_length"] = max_length
    # Kept even when a cell is at fault, so later rows referring to it are not blamed too.
    instrument.items.append(item)
    instrument.item_rows.append(row.number)


def _score_row(row: _Row, instrument: ParsedInstrument) -> None:
    for column in ITEM_ONLY:
        if row[column]:
            row.fail(column, _("A score row does not have this column."))
    method = row["score_method"].lower() or str(ScaleMethod.SUM)
    if method not in {str(m) for m in ScaleMethod}:
        row.fail("score_method", _("Write sum or mean."))
    bands = [{"min": pair["code"], "label": pair["label"]} for pair in row.pairs("score_bands_en")]
    for band in bands:
        try:
            _number(band["min"])
        except ValueError:
            row.fail(
                "score_bands_en", _("A band starts at a number: %(code)s") % {"code": band["min"]}
            )
    multiplier = row.number_of("score_multiplier")
    decimals = row.whole("decimals")
    if decimals is not None and decimals > 6:
        row.fail("decimals", _("At most 6 decimals."))
    scale: dict[str, Any] = {
        "name": row["variable"],
        "label": {"en": row["label_en"], "nb": row["label_nb"]},
        "items": names_list(row["score_items"]),
        "method": method,
        "reverse": names_list(row["score_reverse"]),
        "max_missing": row.whole("score_max_missing") or 0,
        "multiplier": multiplier or "1",
        "decimals": 2 if decimals is None else decimals,
        "bands": bands,
        "library": row["score_library"],
    }
    instrument.scales.append(scale)
    instrument.scale_rows.append(row.number)
