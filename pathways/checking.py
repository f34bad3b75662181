"""Reading and checking a register file's rows against a trial: writes nothing.

The file (UTF-8, comma-separated, header first; docs/import-formats.md) has one spell a row:

* ``study_id`` *or* ``personal_number``: who (one of the two columns);
* ``state``: a code of the trial's state alphabet;
* ``start_date``, and ``end_date`` (empty: the spell is still open), as YYYY-MM-DD;
* ``source`` (optional; the upload's source when empty) and ``detail`` (optional: a benefit
  type, or for states whose detail is an occupation a STYRK-08 code).

:func:`check_rows` reads the whole file with pandas and validates every row vectorised: unknown
people, invalid personal numbers, unknown states, dates that are not dates, an end before the
start, a spell entirely outside the participant's follow-up window, occupation codes that do
not exist, over-long text and repeated rows. Every problem is reported with its line (the
header is line 1), stored untranslated by kind (:data:`MESSAGES`) and translated when shown
(:func:`message`); messages name lines, never personal numbers. The import's life (staging,
comparing, applying) is in ``pathways.importing``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from pathways import services
from pathways.models import SpellState
from trial import personal_numbers
from trial.models import Participant, Trial
from trial.text import printable, unstorable_character

IDENTITY_COLUMNS = ("study_id", "personal_number")
REQUIRED = ("state", "start_date")
OPTIONAL = ("end_date", "source", "detail")
MAX_TEXT = 60

# Messages by kind; stored untranslated with their parameters and translated when shown.
MESSAGES = {
    "file": gettext_noop("The file could not be read: %(reason)s"),
    "encoding": gettext_noop("The file is not UTF-8 text."),
    "missing_column": gettext_noop("The file has no column %(column)s."),
    "unknown_column": gettext_noop("Unknown column %(column)s; the columns are %(columns)s."),
    "identity_column": gettext_noop(
        "Give the person either in a study_id column or in a personal_number column, not both."
    ),
    "empty": gettext_noop("The file has no rows."),
    "required": gettext_noop("Empty; this column is required."),
    "unknown_study_id": gettext_noop("No participant in this trial has this study id."),
    "unknown_personal_number": gettext_noop(
        "No participant in this trial has this personal number."
    ),
    "invalid_personal_number": gettext_noop(
        "Not a valid personal number (11 digits with matching check digits)."
    ),
    "unknown_state": gettext_noop("Unknown state %(code)s; the trial's states are %(codes)s."),
    "bad_date": gettext_noop("Not a date; write YYYY-MM-DD."),
    "end_before_start": gettext_noop("The end date is before the start date."),
    "outside_window": gettext_noop(
        "The spell lies outside the participant's follow-up window, %(start)s to %(end)s."
    ),
    "unknown_occupation": gettext_noop("Occupation code %(code)s does not exist in STYRK-08."),
    "too_long": gettext_noop("Longer than %(max)s characters."),
    "duplicate": gettext_noop("The same person, state, start date and source as line %(line)s."),
    "bad_character": gettext_noop("Contains a character that is not allowed: %(character)s."),
}

Progress = Callable[[str, int], None]
TRAILING_SPACE = re.compile(r"[ \t]+(?:,|\r?\n|$)")


def message(kind: str, params: dict[str, Any] | None = None) -> str:
    """A stored error, translated into the active language."""
    return _(MESSAGES[kind]) % (params or {})


@dataclass
class CheckResult:
    """What checking found: all errors (line, column, kind, params) and the valid rows."""

    total: int
    errors: pd.DataFrame
    valid: pd.DataFrame

    @classmethod
    def empty(cls) -> CheckResult:
        """The result of a check that did not run (the import was not this worker's)."""
        return cls(0, _errors([], "", ""), pd.DataFrame())

    @property
    def invalid_lines(self) -> int:
        return int(self.errors.loc[self.errors["line"] > 1, "line"].nunique())

    @property
    def file_level(self) -> bool:
        """True when the file as a whole is unusable (header, encoding…)."""
        return bool((self.errors["line"] <= 1).any())

    def error_list(self, limit: int | None = None) -> list[dict[str, Any]]:
        frame = self.errors.sort_values(["line", "column"], kind="stable")
        if limit is not None:
            frame = frame.head(limit)
        return [
            {"line": int(r.line), "column": r.column, "kind": r.kind, "params": r.params}
            for r in frame.itertuples(index=False)
        ]


def _errors(lines: Any, column: str, kind: str, params: Any = None) -> pd.DataFrame:
    lines = np.asarray(lines, dtype=np.int64)
    if params is None:
        params = [{}] * len(lines)
    return pd.DataFrame(
        {"line": lines, "column": column, "kind": kind, "params": list(params)},
        columns=["line", "column", "kind", "params"],
    )


def _file_error(kind: str, **params: Any) -> CheckResult:
    return CheckResult(0, _errors([0], "", kind, [params]), pd.DataFrame())


def _valid_personal_numbers(numbers: pd.Series) -> npt.NDArray[np.bool_]:
    """Which normalised numbers have 11 digits and matching check digits (vectorised)."""
    ok = numbers.str.fullmatch(r"\d{11}").fillna(False).to_numpy(dtype=bool)
    if not ok.any():
        return ok
    digits = (
        np.frombuffer("".join(numbers[ok]).encode("ascii"), dtype=np.uint8).reshape(-1, 11) - 48
    ).astype(np.int64)
    w1 = np.array([3, 7, 6, 1, 8, 9, 4, 5, 2])
    w2 = np.array([5, 4, 3, 2, 7, 6, 5, 4, 3, 2])
    k1 = 11 - (digits[:, :9] @ w1) % 11
    k1[k1 == 11] = 0
    k2 = 11 - (digits[:, :10] @ w2) % 11
    k2[k2 == 11] = 0
    good = (k1 == digits[:, 9]) & (k2 == digits[:, 10]) & (k1 != 10) & (k2 != 10)
    result = ok.copy()
    result[ok] = good
    return result


def check_rows(
    data: bytes,
    trial: Trial,
    *,
    default_source: str,
    progress: Progress | None = None,
) -> CheckResult:
    """Read and validate a register file against the trial. Writes nothing."""
    report = progress or (lambda step, percent: None)
    report("reading", 5)
    read = _read(data)
    if isinstance(read, CheckResult):
        return read
    text, frame, key = read
    report("validating", 20)
    lines = frame["line"].to_numpy()
    problems: list[pd.DataFrame] = []
    _refuse_unstorable(text, frame, [key, *REQUIRED, *OPTIONAL], lines, problems)
    current = services.settings_for(trial)
    window = services.anchors(trial, current=current, for_import=True)
    participant_ids = _who(frame, trial, key, lines, problems)
    states, state_id = _what(frame, trial, lines, problems)
    start_days, end_days = _when(
        frame, window, current.follow_up_months, participant_ids, lines, problems
    )
    source = frame["source"].where(frame["source"] != "", default_source)
    detail = frame["detail"]
    _details(source, detail, states, state_id, lines, problems)
    report("validating", 40)
    errors = pd.concat(problems, ignore_index=True)
    candidate = ~np.isin(lines, errors["line"].to_numpy())
    valid = pd.DataFrame(
        {
            "line": lines[candidate],
            "participant_id": participant_ids[candidate].astype(np.int64),
            "state_id": state_id.to_numpy(dtype="float64")[candidate].astype(np.int64),
            "starts_on": start_days[candidate],
            "ends_on": end_days[candidate],
            "source": source.to_numpy()[candidate],
            "detail": detail.to_numpy()[candidate],
        }
    )
    valid, repeated = _drop_repeated(valid)
    if repeated is not None:
        errors = pd.concat([errors, repeated], ignore_index=True)
    return CheckResult(total=len(frame), errors=errors, valid=valid)


def _read(data: bytes) -> tuple[str, pd.DataFrame, str] | CheckResult:
    """The file's text, its rows (all columns, a ``line`` column, blank rows dropped) and its
    identity column; or the result of a file that cannot be checked row by row."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _file_error("encoding")
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        return _file_error("file", reason=str(error).strip()[:200])
    # A character the database cannot store in a column's name is shown as U+FFFD: the name
    # is then an unknown column.
    frame.columns = [printable(str(c).strip().lower()) for c in frame.columns]
    header_errors = _header_errors(set(frame.columns))
    if header_errors:
        return CheckResult(len(frame), pd.concat(header_errors, ignore_index=True), pd.DataFrame())
    key = next(c for c in IDENTITY_COLUMNS if c in frame.columns)
    frame = frame.fillna("")
    for column in OPTIONAL:
        if column not in frame.columns:
            frame[column] = ""
    # Leading spaces went with skipinitialspace; strip trailing ones only if the file has any
    # (a C-speed scan of the text instead of a Python call per cell).
    if TRAILING_SPACE.search(text):
        for column in frame.columns:
            frame[column] = frame[column].astype(str).str.strip()
    frame["line"] = np.arange(len(frame), dtype=np.int64) + 2
    blank = (frame[[key, *REQUIRED, *OPTIONAL]] == "").all(axis=1)
    frame = frame[~blank.to_numpy()].reset_index(drop=True)
    if frame.empty:
        return _file_error("empty")
    return text, frame, key


def _header_errors(columns: set[str]) -> list[pd.DataFrame]:
    """Unknown columns, no (or both) identity columns, missing required columns."""
    errors = []
    known = set(IDENTITY_COLUMNS) | set(REQUIRED) | set(OPTIONAL)
    for column in sorted(columns - known):
        errors.append(
            _errors(
                [1],
                column,
                "unknown_column",
                [
                    {
                        "column": column,
                        "columns": ", ".join([*IDENTITY_COLUMNS, *REQUIRED, *OPTIONAL]),
                    }
                ],
            )
        )
    identity = [c for c in IDENTITY_COLUMNS if c in columns]
    if len(identity) != 1:
        errors.append(_errors([1], "", "identity_column"))
    for column in REQUIRED:
        if column not in columns:
            errors.append(_errors([1], column, "missing_column", [{"column": column}]))
    return errors


def _refuse_unstorable(
    text: str,
    frame: pd.DataFrame,
    columns: list[str],
    lines: npt.NDArray[np.int64],
    problems: list[pd.DataFrame],
) -> None:
    """Characters the database cannot store (NUL): an error on the cell, whose row is then never
    staged; the other checks see U+FFFD in its place (``frame`` is changed), so that no stored
    message carries one. One C-speed scan of the text when the file has none."""
    if unstorable_character(text) is None:
        return
    for column in columns:
        values = frame[column]
        found = values.map(unstorable_character)
        bad = found.notna().to_numpy()
        if bad.any():
            params = [{"character": c} for c in found[bad]]
            problems.append(_errors(lines[bad], column, "bad_character", params))
            frame[column] = values.map(printable)


def _who(
    frame: pd.DataFrame,
    trial: Trial,
    key: str,
    lines: npt.NDArray[np.int64],
    problems: list[pd.DataFrame],
) -> npt.NDArray[np.float64]:
    """Each row's participant id (NaN when unknown): one query for the trial's participants,
    matched by study id or keyed hash."""
    people = Participant.objects.filter(trial=trial)
    raw_id = frame[key]
    missing_id = (raw_id == "").to_numpy()
    problems.append(_errors(lines[missing_id], key, "required"))
    if key == "study_id":
        known = list(people.values_list("study_id", "id"))
        found = pd.Index([s for s, _ in known]).get_indexer(raw_id.to_numpy())
        ids = np.array([pk for _, pk in known] + [-1], dtype="float64")
        ids[-1] = np.nan
        participant = pd.Series(ids[found])  # found == -1 picks the NaN at the end
        unknown = participant.isna().to_numpy() & ~missing_id
        problems.append(_errors(lines[unknown], key, "unknown_study_id"))
    else:
        numbers = raw_id.str.replace(r"\s+", "", regex=True)
        valid_number = _valid_personal_numbers(numbers)
        bad = ~valid_number & ~missing_id
        problems.append(_errors(lines[bad], key, "invalid_personal_number"))
        lookup = dict(
            people.exclude(personal_number_hash=None).values_list("personal_number_hash", "id")
        )
        unique = pd.unique(numbers[valid_number])
        hashes = {number: personal_numbers.lookup_hash(number) for number in unique}
        participant = numbers.where(valid_number).map(hashes).map(lookup)
        unknown = participant.isna().to_numpy() & valid_number
        problems.append(_errors(lines[unknown], key, "unknown_personal_number"))
        del numbers, hashes
    return participant.to_numpy(dtype="float64")


def _what(
    frame: pd.DataFrame, trial: Trial, lines: npt.NDArray[np.int64], problems: list[pd.DataFrame]
) -> tuple[dict[str, SpellState], pd.Series]:
    """The trial's states by code, and each row's state id (NaN when unknown)."""
    states = {s.code: s for s in SpellState.objects.filter(trial=trial)}
    state_code = frame["state"]
    missing_state = (state_code == "").to_numpy()
    problems.append(_errors(lines[missing_state], "state", "required"))
    codes = list(states)
    state_ids = np.array([states[c].pk for c in codes] + [np.nan], dtype="float64")
    state_id = pd.Series(state_ids[pd.Index(codes).get_indexer(state_code.to_numpy())])
    unknown_state = state_id.isna().to_numpy() & ~missing_state
    codes_text = ", ".join(sorted(states)) or "–"
    problems.append(
        _errors(
            lines[unknown_state],
            "state",
            "unknown_state",
            [{"code": c[:40], "codes": codes_text} for c in state_code[unknown_state]],
        )
    )
    return states, state_id


def _when(
    frame: pd.DataFrame,
    window: pd.DataFrame,
    months: int,
    participant_ids: npt.NDArray[np.float64],
    lines: npt.NDArray[np.int64],
    problems: list[pd.DataFrame],
) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.datetime64]]:
    """Each row's start and end day (NaT when not a date, or open): dates, their order and the
    follow-up window."""
    starts = pd.to_datetime(frame["start_date"], format="%Y-%m-%d", errors="coerce")
    ends = pd.to_datetime(frame["end_date"], format="%Y-%m-%d", errors="coerce")
    missing_start = (frame["start_date"] == "").to_numpy()
    problems.append(_errors(lines[missing_start], "start_date", "required"))
    bad_start = starts.isna().to_numpy() & ~missing_start
    bad_end = ends.isna().to_numpy() & (frame["end_date"] != "").to_numpy()
    problems.append(_errors(lines[bad_start], "start_date", "bad_date"))
    problems.append(_errors(lines[bad_end], "end_date", "bad_date"))
    start_days = starts.to_numpy().astype("datetime64[D]")
    end_days = ends.to_numpy().astype("datetime64[D]")
    reversed_ = ~np.isnat(start_days) & ~np.isnat(end_days) & (end_days < start_days)
    problems.append(_errors(lines[reversed_], "end_date", "end_before_start"))

    anchor_by_id = pd.Series(
        pd.to_datetime(window["anchor"]).to_numpy().astype("datetime64[D]"),
        index=window["participant_id"].to_numpy(),
    )
    known_person = ~np.isnan(participant_ids)
    anchor = np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[D]")
    if known_person.any():
        anchor[known_person] = anchor_by_id.reindex(
            participant_ids[known_person].astype(np.int64)
        ).to_numpy()
    anchor_month = anchor.astype("datetime64[M]")
    last_day = (anchor_month + months).astype("datetime64[D]") - np.timedelta64(1, "D")
    checkable = known_person & ~np.isnat(start_days) & ~np.isnat(anchor) & ~reversed_
    effective_end = np.where(np.isnat(end_days), np.datetime64("9999-12-31"), end_days)
    outside = checkable & ((start_days > last_day) | (effective_end < anchor))
    problems.append(
        _errors(
            lines[outside],
            "start_date",
            "outside_window",
            [
                {"start": str(a), "end": str(b)}
                for a, b in zip(anchor[outside], last_day[outside], strict=True)
            ],
        )
    )
    return start_days, end_days


def _details(
    source: pd.Series,
    detail: pd.Series,
    states: dict[str, SpellState],
    state_id: pd.Series,
    lines: npt.NDArray[np.int64],
    problems: list[pd.DataFrame],
) -> None:
    """Sources and details: their length, and occupation codes where the state wants one."""
    for column, values in (("source", source), ("detail", detail)):
        long = (values.str.len() > MAX_TEXT).to_numpy()
        problems.append(_errors(lines[long], column, "too_long", [{"max": MAX_TEXT}] * long.sum()))
    occupation_states = {s.pk for s in states.values() if s.detail == SpellState.Detail.OCCUPATION}
    wants_occupation = state_id.isin(occupation_states).to_numpy() & (detail != "").to_numpy()
    if wants_occupation.any():
        from occupations import styrk

        unique_codes = pd.unique(detail[wants_occupation])
        valid_codes = {code for code in unique_codes if styrk.is_valid(code)}
        bad_code = wants_occupation & ~detail.isin(valid_codes).to_numpy()
        problems.append(
            _errors(
                lines[bad_code],
                "detail",
                "unknown_occupation",
                [{"code": c[:40]} for c in detail[bad_code]],
            )
        )


def _drop_repeated(valid: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The same natural key twice in the file: the later lines are errors."""
    keys = ["participant_id", "state_id", "starts_on", "source"]
    repeated = valid.duplicated(keys, keep="first").to_numpy()
    if not repeated.any():
        return valid, None
    first_line = valid.groupby(keys, sort=False)["line"].transform("first").to_numpy()
    errors = _errors(
        valid["line"].to_numpy()[repeated],
        "start_date",
        "duplicate",
        [{"line": int(x)} for x in first_line[repeated]],
    )
    return valid[~repeated].reset_index(drop=True), errors
