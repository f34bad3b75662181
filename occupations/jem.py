"""Job exposure matrices (JEMs) as plain data: reading the CSV format and the fallback lookup.

A JEM maps STYRK-08 codes to scores for one or more measures (``mechanical``,
``psychosocial`` or finer ones such as ``lifting`` or ``job_control``). A matrix may give a
score at any level of the code hierarchy; :func:`strain_scores` looks each occupation up at its
own 4-digit unit group first and falls back along the hierarchy (4 → 3 → 2 → 1 digits) to the
most specific group the matrix scores.

Pure module: no Django models, so reports and notebooks can use it on data frames. The CSV
format is documented in docs/import-formats.md ("Job exposure matrix").
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field

import pandas as pd
from django.utils.translation import gettext as _

from occupations import styrk
from trial.text import printable, unstorable_character

REQUIRED_COLUMNS = ("code", "level", "measure", "score")
OPTIONAL_COLUMNS = ("measure_label",)
LEVELS = (4, 3, 2, 1)
MEASURE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
ENTRY_COLUMNS = ["code", "level", "measure", "score"]


@dataclass(frozen=True)
class RowError:
    line: int
    """Line of the file (1 is the header); 0 for the file as a whole."""
    column: str
    message: str


@dataclass
class ParsedMatrix:
    entries: pd.DataFrame
    """Columns ``code`` (str), ``level`` (int), ``measure`` (str), ``score`` (float)."""
    measure_labels: dict[str, str] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def decode(content: bytes) -> str:
    """UTF-8 (with or without BOM), else cp1252, as spreadsheet exports vary."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("cp1252")


def parse_csv(content: bytes | str) -> ParsedMatrix:
    """Read a JEM from CSV (comma or semicolon separated, header row first).

    Every row is checked and every problem reported with its line: a character the database
    cannot store (NUL), an unknown STYRK-08 code,
    a level that does not match the code's length, a malformed measure, a score that is not a
    number, a code and measure given twice. ``entries`` is empty when there are errors.
    """
    text = decode(content) if isinstance(content, bytes) else content
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        message = _(
            "Missing column(s): %(columns)s. The header must name code, level, measure, score."
        ) % {"columns": ", ".join(missing)}
        return _refused([RowError(1, ", ".join(missing), message)])
    reader.fieldnames = header
    errors: list[RowError] = []
    rows: list[tuple[str, int, str, float]] = []
    labels: dict[str, str] = {}
    seen: dict[tuple[str, str], int] = {}
    for row in reader:
        line = reader.line_num
        values = {key: (value or "").strip() for key, value in row.items() if key is not None}
        if not any(values.values()):
            continue
        entry, row_errors = _check_row(line, values, seen)
        errors.extend(row_errors)
        if entry is None:
            continue
        rows.append(entry)
        label = values.get("measure_label", "")
        if label and entry[2] not in labels:
            labels[entry[2]] = label
    if not rows and not errors:
        errors.append(RowError(0, "", _("The file holds no rows.")))
    if errors:
        return _refused(errors)
    entries = pd.DataFrame(rows, columns=ENTRY_COLUMNS)
    for measure in entries["measure"].unique():
        labels.setdefault(measure, measure.replace("_", " ").capitalize())
    return ParsedMatrix(entries, labels, [])


def _refused(errors: list[RowError]) -> ParsedMatrix:
    return ParsedMatrix(pd.DataFrame(columns=ENTRY_COLUMNS), {}, errors)


def _check_row(
    line: int, values: dict[str, str], seen: dict[tuple[str, str], int]
) -> tuple[tuple[str, int, str, float] | None, list[RowError]]:
    """One row's entry (None when it has errors) and its errors; notes its key in ``seen``."""
    unstorable = [(key, unstorable_character(value)) for key, value in values.items()]
    if any(character for _key, character in unstorable):
        # A character the database cannot store (NUL): an error on the cell, and the row is
        # checked no further.
        return None, [
            RowError(
                line,
                printable(key),
                _("Contains a character that is not allowed: %(character)s.")
                % {"character": character},
            )
            for key, character in unstorable
            if character
        ]
    code, level_text, measure = values["code"], values["level"], values["measure"]
    row_errors: list[RowError] = []
    if not styrk.is_valid(code, allow_groups=True):
        row_errors.append(
            RowError(line, "code", _("Unknown STYRK-08 code '%(code)s'") % {"code": code})
        )
    level = _level(line, code, level_text, row_errors)
    if not MEASURE_PATTERN.fullmatch(measure):
        row_errors.append(
            RowError(
                line,
                "measure",
                _(
                    "Measure '%(measure)s' must be a short code of lower-case letters, "
                    "digits and underscores, starting with a letter."
                )
                % {"measure": measure},
            )
        )
    score = _score(line, values["score"], row_errors)
    key = (code, measure)
    if key in seen:
        row_errors.append(
            RowError(
                line,
                "code",
                _("Code '%(code)s' and measure '%(measure)s' were given on line %(line)s already.")
                % {"code": code, "measure": measure, "line": seen[key]},
            )
        )
    else:
        seen[key] = line
    if row_errors or level is None or score is None:
        return None, row_errors
    return (code, level, measure, score), []


def _level(line: int, code: str, text: str, errors: list[RowError]) -> int | None:
    """The row's level, or None when it is not a number; its errors are added to ``errors``."""
    try:
        level = int(text)
    except ValueError:
        level = None
    if level is None or level not in LEVELS:
        errors.append(
            RowError(
                line, "level", _("Level '%(level)s' is not one of 1, 2, 3, 4.") % {"level": text}
            )
        )
    elif code.isdigit() and len(code) != level:
        errors.append(
            RowError(
                line,
                "level",
                _("Level %(level)s does not match code '%(code)s', a level %(actual)s code.")
                % {"level": level, "code": code, "actual": len(code)},
            )
        )
    return level


def _score(line: int, text: str, errors: list[RowError]) -> float | None:
    """The row's score, or None (with an error added to ``errors``) when it is not a number."""
    score: float | None = None
    try:
        score = float(text.replace(",", ".")) if text else None
    except ValueError:
        score = None
    if score is None or not math.isfinite(score):
        errors.append(
            RowError(line, "score", _("Score '%(score)s' is not a number.") % {"score": text})
        )
    return score


def strain_scores(codes: pd.Series, entries: pd.DataFrame) -> pd.DataFrame:
    """Each code's score on every measure of the matrix, falling back along the hierarchy.

    ``codes`` holds STYRK-08 codes as strings (4-digit unit groups, or shorter group codes;
    missing values allowed). ``entries`` has columns ``code``, ``measure`` and ``score`` (a
    code's level is its length). For every measure separately the lookup tries the code's
    4-digit unit group, then its 3-, 2- and 1-digit groups, and takes the first that the
    matrix scores.

    Returns a frame with the index of ``codes``: one float column per measure (NaN where no
    level of the code is scored), one ``level_used_<measure>`` column per measure (the level
    the score came from, <NA> when none), and ``level_used``: the coarsest level used for any
    measure of the row, i.e. the least precise information that went into it.
    """
    if not len(entries):
        return pd.DataFrame({"level_used": pd.Series(pd.NA, index=codes.index, dtype="Int64")})
    clean = codes.astype("string").str.strip()
    clean = clean.where(clean.str.fullmatch(r"\d{1,4}").fillna(False))
    measures = sorted(entries["measure"].unique())
    table = entries.assign(code=entries["code"].astype(str)).pivot_table(
        index="code", columns="measure", values="score", aggfunc="first"
    )
    scores = pd.DataFrame(index=codes.index, columns=measures, dtype=float)
    used = pd.DataFrame(index=codes.index, columns=measures, dtype="Int64")
    lengths = clean.str.len()
    for level in LEVELS:
        prefixes = clean.where(lengths >= level).str.slice(0, level)
        at_level = table[table.index.str.len() == level]
        if at_level.empty:
            continue
        found = at_level.reindex(prefixes.astype(object).where(prefixes.notna(), None).to_numpy())
        found.index = codes.index
        for measure in measures:
            fill = scores[measure].isna() & found[measure].notna()
            scores.loc[fill, measure] = found.loc[fill, measure]
            used.loc[fill, measure] = level
    result = scores.copy()
    for measure in measures:
        result[f"level_used_{measure}"] = used[measure]
    result["level_used"] = used.min(axis=1, skipna=True).astype("Int64")
    return result
