"""Importing register spells from a CSV file: upload, check, then import or cancel.

The file (UTF-8, comma-separated, header first; docs/import-formats.md) has one spell a row:

* ``study_id`` *or* ``personal_number``: who (one of the two columns);
* ``state``: a code of the trial's state alphabet;
* ``start_date``, and ``end_date`` (empty: the spell is still open), as YYYY-MM-DD;
* ``source`` (optional; the upload's source when empty) and ``detail`` (optional: a benefit
  type, or for states whose detail is an occupation a STYRK-08 code).

**Checking** reads the whole file with pandas and validates every row vectorised: unknown
people, invalid personal numbers, unknown states, dates that are not dates, an end before the
start, a spell entirely outside the participant's follow-up window, occupation codes that do
not exist, over-long text and repeated rows. Every problem is reported with its line (the
header is line 1). Valid rows wait in ``PendingSpell`` by participant id (COPY on
PostgreSQL), without the personal numbers, and are compared with the spells the trial holds:
new, changed (same person, state, start and source, another end or detail) or unchanged.

**Importing** happens only on the data manager's decision: when every row is valid, or when
they accept that the invalid rows are skipped. One ``INSERT … ON CONFLICT`` writes the new and
changed spells, so importing the same file again changes nothing. The sequences are
invalidated, the data-quality flags recomputed, and the import is in the audit trail.

Personal numbers from the file are never logged or stored: the uploaded file is kept only
encrypted and only until it is checked, and error messages name lines, never numbers.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from pathways import services
from pathways.models import PathwaySettings, PendingSpell, SpellImport, SpellState
from pathways.services import PathwayError
from trial import audit, jobs, personal_numbers
from trial.models import Participant, Trial
from trial.text import printable, unstorable_character

logger = logging.getLogger(__name__)

IDENTITY_COLUMNS = ("study_id", "personal_number")
REQUIRED = ("state", "start_date")
OPTIONAL = ("end_date", "source", "detail")
MAX_TEXT = 60
MAX_STORED_ERRORS = 1000
INLINE_BYTES = 512 * 1024
"""Files up to this size are checked and imported during the request; larger ones on Celery."""

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

STEPS = {
    "queued": gettext_noop("Waiting for a worker…"),
    "reading": gettext_noop("Reading the file…"),
    "validating": gettext_noop("Checking the rows…"),
    "staging": gettext_noop("Setting the valid rows aside…"),
    "comparing": gettext_noop("Comparing with the spells the trial holds…"),
    "writing": gettext_noop("Writing the spells…"),
    "flags": gettext_noop("Looking for overlapping spells…"),
}

UNEXPECTED = gettext_noop(
    "an unexpected error, which has been logged; tell the administrator if it happens again"
)

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
    columns = set(frame.columns)
    known = set(IDENTITY_COLUMNS) | set(REQUIRED) | set(OPTIONAL)
    header_errors = []
    for column in sorted(columns - known):
        header_errors.append(
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
        header_errors.append(_errors([1], "", "identity_column"))
    for column in REQUIRED:
        if column not in columns:
            header_errors.append(_errors([1], column, "missing_column", [{"column": column}]))
    if header_errors:
        return CheckResult(len(frame), pd.concat(header_errors, ignore_index=True), pd.DataFrame())
    frame = frame.fillna("")
    for column in OPTIONAL:
        if column not in columns:
            frame[column] = ""
    # Leading spaces went with skipinitialspace; strip trailing ones only if the file has any
    # (a C-speed scan of the text instead of a Python call per cell).
    if TRAILING_SPACE.search(text):
        for column in frame.columns:
            frame[column] = frame[column].astype(str).str.strip()
    frame["line"] = np.arange(len(frame), dtype=np.int64) + 2
    blank = (frame[[identity[0], *REQUIRED, *OPTIONAL]] == "").all(axis=1)
    frame = frame[~blank.to_numpy()].reset_index(drop=True)
    if frame.empty:
        return _file_error("empty")
    report("validating", 20)
    lines = frame["line"].to_numpy()
    problems: list[pd.DataFrame] = []

    # Characters the database cannot store (NUL): an error on the cell, whose row is then never
    # staged; the other checks see U+FFFD in its place, so that no stored message carries one.
    # One C-speed scan of the text when the file has none.
    if unstorable_character(text) is not None:
        for column in [identity[0], *REQUIRED, *OPTIONAL]:
            values = frame[column]
            found = values.map(unstorable_character)
            bad = found.notna().to_numpy()
            if bad.any():
                params = [{"character": c} for c in found[bad]]
                problems.append(_errors(lines[bad], column, "bad_character", params))
                frame[column] = values.map(printable)

    # Who: one query for the trial's participants, matched by study id or keyed hash.
    current = services.settings_for(trial)
    window = services.anchors(trial, current=current, for_import=True)
    months = current.follow_up_months
    key = identity[0]
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
    participant_ids = participant.to_numpy(dtype="float64")

    # What: the state alphabet.
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

    # When: dates, their order and the follow-up window.
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

    # Details and sources.
    source = frame["source"].where(frame["source"] != "", default_source)
    detail = frame["detail"]
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

    report("validating", 40)
    errors = pd.concat(problems, ignore_index=True)
    bad_lines = np.isin(lines, errors["line"].to_numpy())
    candidate = ~bad_lines
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
    # The same natural key twice in the file: the later lines are errors.
    keys = ["participant_id", "state_id", "starts_on", "source"]
    repeated = valid.duplicated(keys, keep="first").to_numpy()
    if repeated.any():
        first_line = valid.groupby(keys, sort=False)["line"].transform("first").to_numpy()
        errors = pd.concat(
            [
                errors,
                _errors(
                    valid["line"].to_numpy()[repeated],
                    "start_date",
                    "duplicate",
                    [{"line": int(x)} for x in first_line[repeated]],
                ),
            ],
            ignore_index=True,
        )
        valid = valid[~repeated].reset_index(drop=True)
    return CheckResult(total=len(frame), errors=errors, valid=valid)


# --- staging and comparing ------------------------------------------------------------------


def _stage(spell_import: SpellImport, valid: pd.DataFrame) -> None:
    """Put the valid rows into PendingSpell: COPY on PostgreSQL, bulk inserts elsewhere."""
    PendingSpell.objects.filter(spell_import=spell_import).delete()
    if valid.empty:
        return
    ends = valid["ends_on"].to_numpy()
    end_text = np.where(np.isnat(ends), "\\N", np.datetime_as_string(ends, unit="D"))
    if connection.vendor == "postgresql":
        out = pd.DataFrame(
            {
                "spell_import_id": spell_import.pk,
                "line": valid["line"],
                "participant_id": valid["participant_id"],
                "state_id": valid["state_id"],
                "starts_on": np.datetime_as_string(valid["starts_on"].to_numpy(), unit="D"),
                "ends_on": end_text,
                "source": valid["source"],
                "detail": valid["detail"],
            }
        )
        buffer = out.to_csv(index=False, header=False)
        sql = (
            "COPY pathways_pendingspell (spell_import_id, line, participant_id, state_id, "
            "starts_on, ends_on, source, detail) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
        )
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            step = 8 * 1024 * 1024
            for start in range(0, len(buffer), step):
                copy.write(buffer[start : start + step])
        return
    PendingSpell.objects.bulk_create(
        (
            PendingSpell(
                spell_import=spell_import,
                line=int(row.line),
                participant_id=int(row.participant_id),
                state_id=int(row.state_id),
                starts_on=pd.Timestamp(row.starts_on).date(),
                ends_on=None if pd.isna(row.ends_on) else pd.Timestamp(row.ends_on).date(),
                source=row.source,
                detail=row.detail,
            )
            for row in valid.itertuples(index=False)
        ),
        batch_size=2000,
    )


def _differs(old: str, new: str) -> str:
    """SQL: spell ``old`` and row ``new`` differ in end or detail (NULL-safe)."""
    operator = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    return f"({old}.ends_on {operator} {new}.ends_on OR {old}.detail <> {new}.detail)"


def _compare(spell_import: SpellImport) -> tuple[int, int, int]:
    """(new, changed, unchanged) among the import's pending rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT COALESCE(SUM(CASE WHEN s.id IS NULL THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN s.id IS NOT NULL AND {_differs("s", "p")}
                                THEN 1 ELSE 0 END), 0),
                   COUNT(*)
            FROM pathways_pendingspell p
            LEFT JOIN pathways_spell s
              ON s.participant_id = p.participant_id AND s.state_id = p.state_id
             AND s.starts_on = p.starts_on AND s.source = p.source
            WHERE p.spell_import_id = %s
            """,  # noqa: S608 - fixed SQL, values are parameters
            [spell_import.pk],
        )
        new, changed, total = cursor.fetchone()
    return int(new), int(changed), int(total) - int(new) - int(changed)


# --- the import's life: upload, check, apply or cancel ---------------------------------------


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.FIELD_ENCRYPTION_KEYS])


def upload_path(spell_import: SpellImport | int) -> Path:
    pk = spell_import if isinstance(spell_import, int) else spell_import.pk
    return Path(settings.FILES_ROOT) / "pathways" / f"import-{pk}.bin"


def create_import(
    trial: Trial,
    *,
    data: bytes,
    file_name: str,
    default_source: str,
    actor: User | None,
    keep_file: bool = True,
) -> SpellImport:
    """Record an upload (who, when, the file's SHA-256) and keep the file, encrypted, until it
    is checked. Nothing else is written. Audited."""
    with transaction.atomic():
        spell_import = SpellImport.objects.create(
            trial=trial,
            file_name=file_name[:200],
            file_sha256=hashlib.sha256(data).hexdigest(),
            file_size=len(data),
            default_source=default_source,
            uploaded_by=actor,
            uploaded_by_name=actor.get_username() if actor else "system",
            step="queued",
        )
        if keep_file:
            path = upload_path(spell_import)
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(_fernet().encrypt(data))
            os.replace(temporary, path)
        audit.record(
            "spellimport.uploaded",
            spell_import,
            actor=actor,
            trial=trial,
            data={"file_sha256": spell_import.file_sha256, "bytes": len(data)},
        )
    return spell_import


def _progress_of(rows: QuerySet[SpellImport]) -> Progress:
    def progress(step: str, percent: int) -> None:
        rows.update(step=step, done=percent)

    return progress


def check_import(spell_import: SpellImport, data: bytes) -> CheckResult:
    """Check an uploaded file and set its valid rows aside; the import waits for a decision.

    Claims the import (``trial.jobs.claim``), so a second delivery does nothing and returns an
    empty result. Raises nothing for bad rows: they are the result.
    """
    _claim, job = jobs.claim(SpellImport, spell_import.pk)
    if job is None:
        return CheckResult(0, _errors([], "", ""), pd.DataFrame())
    with jobs.held(job) as mine:
        return _check(job, data, mine)


def _check(spell_import: SpellImport, data: bytes, mine: QuerySet[SpellImport]) -> CheckResult:
    """The check of a claimed import; ``mine`` matches it while this attempt holds it."""
    progress = _progress_of(mine)
    result = check_rows(
        data, spell_import.trial, default_source=spell_import.default_source, progress=progress
    )
    new = changed = unchanged = 0
    with transaction.atomic():
        progress("staging", 60)
        PendingSpell.objects.filter(spell_import=spell_import).delete()  # an earlier attempt's
        if not result.file_level:
            _stage(spell_import, result.valid)
            progress("comparing", 90)
            new, changed, unchanged = _compare(spell_import)
        counts = result.errors["kind"].value_counts().to_dict()
        checked = mine.update(
            status=SpellImport.Status.CHECKED,
            rows_total=result.total,
            rows_valid=0 if result.file_level else len(result.valid),
            rows_invalid=result.invalid_lines,
            rows_new=new,
            rows_changed=changed,
            rows_unchanged=unchanged,
            errors=result.error_list(MAX_STORED_ERRORS),
            error_counts={str(k): int(v) for k, v in counts.items()},
            done=100,
            step="",
        )
        if not checked:  # the sweep gave the check to another worker meanwhile
            transaction.set_rollback(True)
    return result


def confirm_import(
    spell_import: SpellImport, *, skip_invalid: bool, actor: User | None
) -> SpellImport:
    """The data manager's decision to import a checked file.

    Raises PathwayError when the import is not waiting for a decision, when the file as a
    whole is unusable, or when rows have errors and ``skip_invalid`` was not accepted.
    Queue or run ``execute_apply`` afterwards.
    """
    with transaction.atomic():
        locked = SpellImport.objects.select_for_update().get(pk=spell_import.pk)
        if locked.status != SpellImport.Status.CHECKED:
            raise PathwayError(_("This file is not waiting to be imported."))
        if locked.rows_valid == 0 and locked.rows_invalid == 0 and locked.errors:
            raise PathwayError(_("The file cannot be imported; correct it and upload it again."))
        if locked.rows_invalid and not skip_invalid:
            raise PathwayError(
                _(
                    "Some rows have errors: correct the file, or accept that the rows with "
                    "errors are skipped."
                ),
                field="skip_invalid",
            )
        locked.status = SpellImport.Status.IMPORT_QUEUED
        locked.skip_invalid = bool(locked.rows_invalid)
        locked.imported_by = actor
        locked.step = "queued"
        locked.done = 0
        locked.heartbeat_at = timezone.now()
        locked.attempts = 0  # a new step, with attempts of its own
        fields = ["status", "skip_invalid", "imported_by", "step", "done", "heartbeat_at"]
        locked.save(update_fields=[*fields, "attempts"])
    return locked


def execute_apply(spell_import_id: int) -> str:
    """Write a confirmed import's valid rows as spells, in one transaction.

    New spells are inserted and changed ones (same person, state, start and source) updated
    by one ``INSERT … ON CONFLICT``; unchanged rows are not touched, so importing the same file
    twice changes nothing. The sequences are invalidated when anything changed, the flags
    recomputed, and an audit event records the counts. Claims the import first
    (``trial.jobs.claim``): safe to repeat. Returns the final status, or the claim's
    ``busy``, ``skipped`` or ``missing``.
    """
    claim, job = jobs.claim(SpellImport, spell_import_id)
    if job is None:
        return claim
    with jobs.held(job) as mine:
        return _apply(job, mine)


def _apply(job: SpellImport, mine: QuerySet[SpellImport]) -> str:
    """The import of a claimed, confirmed file; ``mine`` matches it while this attempt holds
    it."""
    mine.update(step="writing", done=10)
    spell_import = SpellImport.objects.select_related("trial", "imported_by").get(pk=job.pk)
    trial = spell_import.trial
    try:
        with transaction.atomic():
            services.settings_for(trial)
            PathwaySettings.objects.select_for_update().get(trial=trial)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"""
                    INSERT INTO pathways_spell (trial_id, participant_id, state_id, starts_on,
                                                ends_on, source, detail, spell_import_id)
                    SELECT %s, p.participant_id, p.state_id, p.starts_on, p.ends_on, p.source,
                           p.detail, %s
                    FROM pathways_pendingspell p
                    WHERE p.spell_import_id = %s
                    ON CONFLICT (participant_id, state_id, starts_on, source) DO UPDATE
                    SET ends_on = excluded.ends_on, detail = excluded.detail,
                        spell_import_id = excluded.spell_import_id
                    WHERE {_differs("pathways_spell", "excluded")}
                    """,  # noqa: S608 - fixed SQL, values are parameters
                    [trial.pk, spell_import.pk, spell_import.pk],
                )
                written = max(cursor.rowcount, 0)
            PendingSpell.objects.filter(spell_import=spell_import).delete()
            if written:
                services.bump_version(trial)
                services.refresh_flags(trial)
            now = timezone.now()
            done = mine.update(
                status=SpellImport.Status.DONE,
                rows_written=written,
                imported_at=now,
                finished_at=now,
                step="",
                done=100,
            )
            if not done:  # the sweep gave the import to another worker meanwhile
                transaction.set_rollback(True)
                return jobs.Claim.SKIPPED
            audit.record(
                "spells.imported",
                spell_import,
                actor=spell_import.imported_by,
                trial=trial,
                data={
                    "file_sha256": spell_import.file_sha256,
                    "rows": spell_import.rows_total,
                    "accepted": spell_import.rows_valid,
                    "rejected": spell_import.rows_invalid,
                    "written": written,
                    "skip_invalid": spell_import.skip_invalid,
                },
            )
    except Exception:  # whatever it was, the import must not stay "importing"
        logger.exception("spell import %s failed", job.pk)
        jobs.fail(job, _(UNEXPECTED), rows=mine, step="")
        return SpellImport.Status.FAILED
    return SpellImport.Status.DONE


def discard(spell_import_id: int) -> None:
    """Remove what a failed import left: its waiting rows and its uploaded file."""
    PendingSpell.objects.filter(spell_import_id=spell_import_id).delete()
    upload_path(spell_import_id).unlink(missing_ok=True)


def execute_check(spell_import_id: int) -> str:
    """Check an uploaded file kept on disk, then remove the file. Safe to repeat: only an
    import waiting to be checked (or whose worker's lease ran out) is checked. Returns the
    status, or the claim's ``busy``, ``skipped`` or ``missing``."""
    claim, job = jobs.claim(SpellImport, spell_import_id)
    if job is None:
        return claim
    path = upload_path(job)
    with jobs.held(job) as mine:
        try:
            data = _fernet().decrypt(path.read_bytes())
            _check(job, data, mine)
        except Exception:  # the import must not stay "checking"
            logger.exception("checking spell import %s failed", spell_import_id)
            jobs.fail(job, _(UNEXPECTED), rows=mine, step="")
            return SpellImport.Status.FAILED
    if not SpellImport.objects.filter(pk=job.pk, status=SpellImport.Status.CHECKED).exists():
        return jobs.Claim.SKIPPED  # the sweep gave the check to another worker meanwhile
    path.unlink(missing_ok=True)
    return SpellImport.Status.CHECKED


def cancel_import(spell_import: SpellImport, *, actor: User | None) -> SpellImport:
    """Drop a checked file without importing it. Raises PathwayError unless it is waiting for
    a decision. Audited."""
    with transaction.atomic():
        locked = SpellImport.objects.select_for_update().get(pk=spell_import.pk)
        if locked.status != SpellImport.Status.CHECKED:
            raise PathwayError(_("This file is not waiting to be imported."))
        PendingSpell.objects.filter(spell_import=locked).delete()
        locked.status = SpellImport.Status.CANCELLED
        locked.save(update_fields=["status"])
        audit.record("spellimport.cancelled", locked, actor=actor, trial=locked.trial)
    return locked


def start_check(spell_import: SpellImport) -> None:
    """Check now when the file is small, else on a worker once the upload is committed."""
    if spell_import.file_size <= INLINE_BYTES:
        execute_check(spell_import.pk)
    else:
        jobs.enqueue_on_commit(spell_import)


def start_apply(spell_import: SpellImport) -> None:
    """Import now when the file was small, else on a worker once the decision is committed."""
    if spell_import.file_size <= INLINE_BYTES:
        execute_apply(spell_import.pk)
    else:
        jobs.enqueue_on_commit(spell_import)
