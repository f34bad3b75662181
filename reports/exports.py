"""The analysis data sets as the files statisticians open, and what is taken out before.

Formats (:data:`FORMATS`): CSV and Stata, the default, as before; SPSS (``.sav``, through
pyreadstat), R (the CSV files and ``load_data.R``, a base-R script that reads them and applies
the labels) and Parquet (pyarrow). Every format carries the same labels, from the column
descriptions the pipeline builds from the trial's data dictionary (``render.ColumnInfo``):
variable labels, value labels (factor levels in R, dictionary-encoded categories in Parquet) and
the missing-data codes, as user-missing values where the format has them (SPSS).

De-identification (:class:`ExportOptions`, as REDCap offers it) is applied to the data sets
before any file is written, so every format gets the same data: free-text items dropped (the
dictionary knows which items are free text), dates shifted by a per-participant offset, study
ids replaced by a keyed hash. Offsets and pseudonyms come from a key derived from
``PERSONAL_NUMBER_HASH_KEY`` (never written anywhere) and a scope: one export, or the trial
(:func:`export_key`). The choice is recorded in the README, report.json and the audit trail;
the offsets never are.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reports.columns import ColumnInfo
from trial.services import TrialError

CSV, STATA, SPSS, R, PARQUET = "csv", "stata", "spss", "r", "parquet"


FORMATS = {
    CSV: gettext_lazy("CSV"),
    STATA: gettext_lazy("Stata (.dta)"),
    SPSS: gettext_lazy("SPSS (.sav)"),
    R: gettext_lazy("R (the CSV files and a script that applies the labels)"),
    PARQUET: gettext_lazy("Parquet"),
}


DEFAULT_FORMATS = (CSV, STATA)


KEEP, PER_EXPORT, PER_TRIAL = "none", "export", "trial"


HASH_CHOICES = {
    KEEP: gettext_lazy("Keep the study ids"),
    PER_EXPORT: gettext_lazy("Replace by a keyed hash for this export only"),
    PER_TRIAL: gettext_lazy("Replace by a keyed hash shared by the trial's linked exports"),
}


DATE_SHIFT_MAX = 3650


"""The widest date shift one may ask for, in days either way (ten years)."""


PSEUDONYM_LENGTH = 16


"""Hex digits of a hashed study id: 64 bits, no collision expected among a trial's ids."""


R_SCRIPT = "load_data.R"


class ExportOptionsError(TrialError):
    """A format or de-identification choice that cannot be met; ``field`` names the input."""


@dataclass(frozen=True)
class ExportOptions:
    """What files the ZIP holds and what is taken out of the data sets first.

    Stored in a report request's ``options`` (``formats`` and ``deidentify``), only where they
    differ from the defaults, so a report ordered without them is the report it always was.
    """

    formats: tuple[str, ...] = DEFAULT_FORMATS
    drop_free_text: bool = False
    date_shift_days: int = 0
    """Each participant's dates move by the same number of days, 1 to this many, either way; 0
    leaves dates as recorded."""
    hash_study_ids: str = KEEP

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ExportOptions:
        """The choices stored in a request's options (defaults where none are)."""
        chosen = options.get("deidentify") or {}
        return cls(
            formats=tuple(options.get("formats") or DEFAULT_FORMATS),
            drop_free_text=bool(chosen.get("drop_free_text", False)),
            date_shift_days=int(chosen.get("date_shift_days", 0) or 0),
            hash_study_ids=str(chosen.get("hash_study_ids", KEEP)),
        )

    def to_options(self) -> dict[str, Any]:
        """The choices as a request stores them: nothing for the defaults."""
        out: dict[str, Any] = {}
        if self.formats != DEFAULT_FORMATS:
            out["formats"] = list(self.formats)
        if self.deidentified:
            out["deidentify"] = self.deidentification()
        return out

    @property
    def deidentified(self) -> bool:
        return self.drop_free_text or bool(self.date_shift_days) or self.hash_study_ids != KEEP

    def deidentification(self) -> dict[str, Any]:
        """The de-identification chosen, as the audit trail and report.json record it."""
        return {
            "drop_free_text": self.drop_free_text,
            "date_shift_days": self.date_shift_days,
            "hash_study_ids": self.hash_study_ids,
        }

    def formats_text(self) -> str:
        """The formats in words, for pages."""
        return ", ".join(str(FORMATS.get(f, f)) for f in self.formats)

    def deidentification_text(self) -> str:
        """The de-identification in words, for pages ("none" when there is none)."""
        parts = []
        if self.drop_free_text:
            parts.append(_("free-text items left out"))
        if self.date_shift_days:
            parts.append(
                _("dates shifted by up to %(days)s days per participant")
                % {"days": self.date_shift_days}
            )
        if self.hash_study_ids == PER_EXPORT:
            parts.append(_("study ids hashed for this export only"))
        elif self.hash_study_ids == PER_TRIAL:
            parts.append(_("study ids hashed, linked across the trial's exports"))
        return "; ".join(parts) or _("none")

    def audit_data(self) -> dict[str, Any]:
        return {"formats": list(self.formats), "deidentify": self.deidentification()}

    def readme_lines(self) -> list[str]:
        """What the README says about the files and the de-identification (English, like the
        rest of the README). The default gives the lines reports always had."""
        lines = []
        if self.formats == DEFAULT_FORMATS:
            lines += [
                "<name>.csv and <name>.dta (Stata 14+, format 118) hold the same data;",
            ]
        else:
            files = {
                CSV: "<name>.csv (CSV)",
                STATA: "<name>.dta (Stata 14+, format 118)",
                SPSS: "<name>.sav (SPSS, with value labels and user-missing codes)",
                R: f"<name>.csv with {R_SCRIPT} (R: source it to get the labelled data frames)",
                PARQUET: "<name>.parquet (Parquet, labels in each field's metadata)",
            }
            lines.append("Files per data set, all holding the same data:")
            lines += [f"  {files[f]}" for f in self.formats if f in files]
            lines.append("(text a spreadsheet would run as a formula starts with ' in CSV files)")
        lines += [
            "data_dictionary.csv describes every column: label (English and bokmal), value",
            "labels, the instrument and its versions, kind, unit and missing-data codes; an answer",
            "given as a missing-data code is blank and its code is in <name>_missing;",
            "a multiple-choice item is one column per choice, <name>___<code> (as REDCap names",
            "them): 1 = chosen, 0 = not chosen, blank when the item was not answered;",
        ]
        if self.deidentified:
            lines.append("De-identified before export:")
            done = []
            if self.drop_free_text:
                done.append("free-text items were left out (with their missing-data codes);")
            if self.date_shift_days:
                done.append(
                    "every date was shifted by a random number of days, 1 to "
                    f"{self.date_shift_days} earlier or later, the same for all of one "
                    "participant's dates (intervals within a participant are kept; the "
                    "offsets are recorded nowhere);"
                )
            if self.hash_study_ids == PER_EXPORT:
                done.append(
                    "study ids were replaced by a keyed hash (HMAC-SHA256) used for this "
                    "export only: it does not link to other exports;"
                )
            elif self.hash_study_ids == PER_TRIAL:
                done.append(
                    "study ids were replaced by a keyed hash (HMAC-SHA256) shared by the "
                    "trial's exports ordered with linked hashes;"
                )
            done.append(
                "results tables, the CONSORT diagram and any PDF are aggregates and unchanged;"
            )
            for sentence in done:
                lines += textwrap.wrap(
                    sentence, width=88, initial_indent="  ", subsequent_indent="    "
                )
        return lines


def check_options(
    *,
    formats: Iterable[str] | None = None,
    drop_free_text: bool = False,
    date_shift_days: int | None = 0,
    hash_study_ids: str | None = KEEP,
) -> ExportOptions:
    """The export choices as given by a page or the API, checked. Raises ExportOptionsError
    (with the field at fault) for no format, an unknown format or hash choice, or a date shift
    outside 0 to :data:`DATE_SHIFT_MAX` days."""
    chosen = list(DEFAULT_FORMATS if formats is None else formats)
    unknown = [str(f) for f in chosen if f not in FORMATS]
    if unknown:
        raise ExportOptionsError(
            _("Unknown file format: %(formats)s.") % {"formats": ", ".join(unknown)},
            field="formats",
        )
    if not chosen:
        raise ExportOptionsError(_("Choose at least one file format."), field="formats")
    days = date_shift_days or 0
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= DATE_SHIFT_MAX:
        raise ExportOptionsError(
            _("Dates can be shifted by 0 to %(max)s days.") % {"max": DATE_SHIFT_MAX},
            field="date_shift_days",
        )
    hashing = hash_study_ids or KEEP
    if hashing not in HASH_CHOICES:
        raise ExportOptionsError(
            _("Unknown choice for the study ids: %(choice)s.") % {"choice": hashing},
            field="hash_study_ids",
        )
    return ExportOptions(
        formats=tuple(f for f in FORMATS if f in chosen),  # one order, whatever was sent
        drop_free_text=bool(drop_free_text),
        date_shift_days=days,
        hash_study_ids=hashing,
    )


def export_key(trial_id: int, options: ExportOptions, salt: str) -> bytes:
    """The key behind an export's pseudonyms and date offsets.

    Scoped to the export (``salt`` names it: the request and when it was ordered, so a rebuilt
    request gives the same file) when study ids are hashed for this export only; otherwise to
    the trial, so that exports linked by their hashes, or by the study ids themselves, shift a
    participant's dates alike (different offsets in two exports one can link would narrow
    down each offset). Derived from ``PERSONAL_NUMBER_HASH_KEY``, which is kept for as long as
    the trial runs, with a label of its own.
    """
    root = hmac.new(
        settings.PERSONAL_NUMBER_HASH_KEY.encode(), b"worktrials export keys v1", hashlib.sha256
    ).digest()
    if options.hash_study_ids == PER_EXPORT:
        scope = f"export:{trial_id}:{salt or secrets.token_hex(16)}"
    else:
        scope = f"trial:{trial_id}"
    return hmac.new(root, scope.encode(), hashlib.sha256).digest()


def pseudonym(key: bytes, study_id: str) -> str:
    """The keyed hash that stands for ``study_id`` (not reversible without the key)."""
    digest = hmac.new(key, b"study-id\x00" + study_id.encode(), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_LENGTH]


def date_offset(key: bytes, study_id: str, days: int) -> int:
    """The participant's date shift: 1 to ``days`` days, earlier or later, never 0."""
    digest = hmac.new(key, b"date-shift\x00" + study_id.encode(), hashlib.sha256).digest()
    magnitude = 1 + int.from_bytes(digest[:8], "big") % days
    return magnitude if digest[8] & 1 else -magnitude


def free_text_columns(info: Mapping[str, ColumnInfo]) -> list[str]:
    """Columns holding free-text items (kind ``text`` in the data dictionary), each with its
    missing-data code column."""
    text = [name for name, column in info.items() if column.kind == "text"]
    return text + [f"{name}_missing" for name in text if f"{name}_missing" in info]


def is_date_column(series: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return True
    sample = series.dropna()
    return bool(len(sample)) and isinstance(sample.iloc[0], dt.date)


def _shifted(series: pd.Series, days: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series + pd.to_timedelta(days.to_numpy(), unit="D")
    return pd.Series(
        [
            value + dt.timedelta(days=int(offset)) if isinstance(value, dt.date) else value
            for value, offset in zip(series, days, strict=True)
        ],
        index=series.index,
        dtype=object,
    )


PSEUDONYM_LABELS = {
    PER_EXPORT: "Pseudonym: keyed hash of the study id (this export only)",
    PER_TRIAL: "Pseudonym: keyed hash of the study id (shared by the trial's linked exports)",
}


def deidentify(
    data_sets: Mapping[str, pd.DataFrame],
    columns: Mapping[str, Mapping[str, ColumnInfo]],
    options: ExportOptions,
    key: bytes,
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, ColumnInfo]]]:
    """The data sets (and their column descriptions) with the chosen de-identification:
    free-text items dropped, every date column shifted by the participant's offset (found by
    the ``study_id`` of the row), study ids replaced by their pseudonyms. Copies; the inputs
    are left as they are."""
    frames = {name: frame.copy() for name, frame in data_sets.items()}
    info = {name: dict(columns.get(name, {})) for name in data_sets}
    if options.drop_free_text:
        for name, frame in frames.items():
            dropped = [c for c in free_text_columns(info[name]) if c in frame.columns]
            frames[name] = frame.drop(columns=dropped)
            for column in dropped:
                info[name].pop(column, None)
    if options.date_shift_days:
        offsets: dict[str, int] = {}

        def offset(study_id: str) -> int:
            if study_id not in offsets:
                offsets[study_id] = date_offset(key, study_id, options.date_shift_days)
            return offsets[study_id]

        for frame in frames.values():
            if "study_id" not in frame.columns:
                continue
            days = frame["study_id"].astype(str).map(offset)
            for column in [c for c in frame.columns if is_date_column(frame[c])]:
                frame[column] = _shifted(frame[column], days)
    if options.hash_study_ids != KEEP:
        label = PSEUDONYM_LABELS[options.hash_study_ids]
        for name, frame in frames.items():
            if "study_id" in frame.columns:
                frame["study_id"] = frame["study_id"].astype(str).map(lambda i: pseudonym(key, i))
                info[name]["study_id"] = ColumnInfo(label=label)
    return frames, info
