"""Loading a trial from documented CSV files (docs/import-formats.md).

A trial that started before this system, or a completed trial to re-analyse, arrives as a set
of CSV files: the trial, its arms, sites, baseline covariates and follow-up schedule, then
participants, the allocations made elsewhere, assessments and withdrawals.

An import works in two passes:

1. **Reading.** Every file is parsed completely: the header (unknown or missing columns), each
   value's type and the model fields' own validators, references between the files (sites,
   arms, visits, study ids), duplicates within a file, personal numbers' check digits, and
   assessments dated after the participant's withdrawal.
2. **Applying.** In one transaction, every row goes through the same services as the browser
   (the set-up services, ``enrol_participant``, ``record_manual`` with source "imported",
   ``record_assessment``, ``withdraw_participant``), so every trial rule (dates in the future,
   an allocation before enrolment, out-of-range answers…) is the services' own; a refusal
   becomes an error on the row's line. If any row of any file is in error, or for a dry run,
   the transaction is rolled back: nothing is written unless everything is valid.

A row describing something the trial holds already with the same values is *unchanged* and is
not written again, so importing the same files twice changes nothing; the same thing with
different values is an error naming the columns that differ.

This lives in ``randomisation`` because imported allocations join the trial's hash chain, and
``trial`` imports nothing from ``randomisation``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.db.models import prefetch_related_objects
from django.utils.translation import gettext as _

from instruments import builtin
from instruments import services as instrument_services
from instruments.definition import Definition, Item, parse_value
from instruments.models import Assessment
from instruments.setup.services import default_instrument
from randomisation.allocation import services
from randomisation.models import Allocation
from trial import audit, personal_numbers
from trial import services as trial_services
from trial.models import (
    Arm,
    CovariateDefinition,
    Participant,
    Site,
    Trial,
    Visit,
    VisitDefinition,
    Withdrawal,
)
from trial.setup import services as setup
from trial.text import printable, unstorable_character

TRIAL = "trial.csv"
ARMS = "arms.csv"
SITES = "sites.csv"
COVARIATES = "covariates.csv"
VISITS = "visits.csv"
PARTICIPANTS = "participants.csv"
ALLOCATIONS = "allocations.csv"
ASSESSMENTS = "assessments.csv"
WITHDRAWALS = "withdrawals.csv"
# Files whose rows lock only their own visit or participant when applied.
PER_PARTICIPANT = frozenset({ASSESSMENTS, WITHDRAWALS})
FILES = (
    TRIAL,
    ARMS,
    SITES,
    COVARIATES,
    VISITS,
    PARTICIPANTS,
    ALLOCATIONS,
    ASSESSMENTS,
    WITHDRAWALS,
)
# What can be added to a trial that exists already (the browser import).
DATA_FILES = (PARTICIPANTS, ALLOCATIONS, ASSESSMENTS, WITHDRAWALS)

TRUE_WORDS = frozenset({"yes", "true", "1"})
FALSE_WORDS = frozenset({"no", "false", "0"})
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The answers an assessments.csv row holds: the items of the built-in "Employment and benefits"
# instrument, recorded under each trial's default instrument.
EMPLOYMENT = Definition.from_json(builtin.employment_definition())
ASSESSMENT_FIELDS = tuple(item.name for item in EMPLOYMENT.items)
# The order in which a new trial reaches the status its trial.csv gives.
STATUS_PATH = {
    Trial.Status.SETUP: [],
    Trial.Status.RECRUITING: [Trial.Status.RECRUITING],
    Trial.Status.FOLLOW_UP: [Trial.Status.RECRUITING, Trial.Status.FOLLOW_UP],
    Trial.Status.CLOSED: [Trial.Status.RECRUITING, Trial.Status.CLOSED],
}


# --- the report ----------------------------------------------------------------------------


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

    def count(self, file: str, *, created: bool) -> None:
        counts = self.files.setdefault(file, FileCounts())
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


# --- reading -------------------------------------------------------------------------------


Parser = Callable[[str], Any]


def _date(raw: str) -> dt.date:
    if not ISO_DATE.fullmatch(raw):
        raise ValueError(_("Enter a date as YYYY-MM-DD."))
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(_("This date does not exist.")) from None


def _bool(raw: str) -> bool:
    word = raw.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(_("Enter yes or no (or true/false, 1/0)."))


def _not_allowed(character: str) -> str:
    return _("Contains a character that is not allowed: %(character)s.") % {"character": character}


def _text(raw: str) -> str:
    return raw


def _choices(raw: str) -> list[list[str]]:
    """``value=label|value=label``; a value without a label is its own label."""
    pairs = []
    for item in raw.split("|"):
        value, _sep, label = item.partition("=")
        value, label = value.strip(), label.strip()
        if not value:
            raise ValueError(_("Write the options as value=label, separated by |."))
        pairs.append([value, label or value])
    return pairs


def _item(name: str) -> Parser:
    """Convert and check an answer as the instrument item itself does (type, range, codes)."""
    found = EMPLOYMENT.item(name)
    if found is None:
        raise LookupError(name)
    item: Item = found

    def parse(raw: str) -> Any:
        return parse_value(item, raw)

    return parse


def _model_field(model: type[models.Model], name: str) -> Parser:
    """Convert and validate with the model field itself (type, length, choices, range)."""
    model_field = model._meta.get_field(name)

    def parse(raw: str) -> Any:
        return model_field.clean(raw, None)  # type: ignore[union-attr]  # a concrete field

    return parse


@dataclass(frozen=True)
class Column:
    name: str
    parse: Parser
    required: bool = True
    """The column must be in the header."""
    blank: bool = False
    """The value may be empty; it then takes ``default``."""
    default: Any = None


def _columns(*columns: Column) -> dict[str, Column]:
    return {column.name: column for column in columns}


def _optional(name: str, parse: Parser, default: Any = None) -> Column:
    return Column(name, parse, required=False, blank=True, default=default)


SPECS: dict[str, dict[str, Column]] = {
    TRIAL: _columns(
        Column("code", _model_field(Trial, "code")),
        Column("title", _model_field(Trial, "title")),
        _optional("design", _model_field(Trial, "design"), Trial.Design.INDIVIDUAL),
        _optional("status", _model_field(Trial, "status"), Trial.Status.SETUP),
        _optional("target_size", _model_field(Trial, "target_size"), 100),
        _optional("registry_id", _model_field(Trial, "registry_id"), ""),
        _optional(
            "eligibility_check",
            _model_field(Trial, "eligibility_check"),
            Trial.EligibilityCheck.REFUSE,
        ),
    ),
    ARMS: _columns(
        Column("code", _model_field(Arm, "code")),
        Column("name", _model_field(Arm, "name")),
        _optional("allocation_weight", _model_field(Arm, "allocation_weight"), 1),
        _optional("is_control", _bool, False),
        _optional("description", _text, ""),
    ),
    SITES: _columns(
        Column("code", _model_field(Site, "code")),
        Column("name", _model_field(Site, "name")),
        _optional("municipality_number", _model_field(Site, "municipality_number"), ""),
        _optional("region", _model_field(Site, "region"), ""),
    ),
    COVARIATES: _columns(
        Column("key", _model_field(CovariateDefinition, "key")),
        Column("label", _model_field(CovariateDefinition, "label")),
        Column("kind", _model_field(CovariateDefinition, "kind")),
        _optional("choices", _choices, ()),
        _optional("min_value", _model_field(CovariateDefinition, "min_value")),
        _optional("max_value", _model_field(CovariateDefinition, "max_value")),
        _optional("eligible_min", _model_field(CovariateDefinition, "eligible_min")),
        _optional("eligible_max", _model_field(CovariateDefinition, "eligible_max")),
        _optional("required", _bool, True),
        _optional("order", _model_field(CovariateDefinition, "order")),
    ),
    VISITS: _columns(
        Column("code", _model_field(VisitDefinition, "code")),
        Column("label", _model_field(VisitDefinition, "label")),
        Column("offset_months", _model_field(VisitDefinition, "offset_months")),
        _optional("window_before_days", _model_field(VisitDefinition, "window_before_days"), 14),
        _optional("window_after_days", _model_field(VisitDefinition, "window_after_days"), 30),
    ),
    PARTICIPANTS: _columns(
        Column("study_id", _text),
        Column("site", _text),
        _optional("personal_number", personal_numbers.validate_personal_number),
        Column("enrolled_on", _date),
        # Blank passes here so that the enrolment service gives its own reason.
        Column("consent_version", _model_field(Participant, "consent_version"), blank=True),
        Column("consent_date", _date),
    ),
    ALLOCATIONS: _columns(
        Column("study_id", _text),
        Column("arm", _text),
        Column("randomised_on", _date),
        _optional("reference", _model_field(Allocation, "reference"), ""),
    ),
    ASSESSMENTS: _columns(
        Column("study_id", _text),
        Column("visit", _text),
        Column("assessed_on", _date),
        Column("in_paid_work", _bool),
        _optional("hours_per_week", _item("hours_per_week")),
        _optional("monthly_earnings", _item("monthly_earnings")),
        _optional("occupation_code", _item("occupation_code"), ""),
        Column("on_benefits", _bool),
        _optional("benefit_type", _item("benefit_type"), ""),
        _optional("self_rated_health", _item("self_rated_health")),
    ),
    WITHDRAWALS: _columns(
        Column("study_id", _text),
        Column("withdrawn_on", _date),
        Column("scope", _model_field(Withdrawal, "scope")),
        # Blank passes here so that the withdrawal service gives its own reason.
        Column("reason", _model_field(Withdrawal, "reason"), blank=True),
    ),
}
# The column naming each row's subject, for duplicates and cross-file references.
KEYS = {
    TRIAL: "code",
    ARMS: "code",
    SITES: "code",
    COVARIATES: "key",
    VISITS: "code",
    PARTICIPANTS: "study_id",
    ALLOCATIONS: "study_id",
    WITHDRAWALS: "study_id",
}


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


# --- the import ----------------------------------------------------------------------------


def import_trial(
    files: Mapping[str, bytes],
    *,
    actor: User,
    trial: Trial | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Check, then (unless ``dry_run``) load, a trial's CSV files, named as in ``FILES``.

    With ``trial`` the files add to that trial (a trial.csv, if given, must name it);
    without, trial.csv names the trial, which is created (``actor`` becomes its coordinator)
    when it does not exist. Nothing is written if any row has an error or for a dry run;
    otherwise everything is written in one transaction, with one ``trial.imported`` audit
    event carrying the counts and each file's SHA-256 beside the services' own events.
    Raises nothing for bad input: every problem is in the report. Safe to repeat: rows the
    trial holds already are unchanged, and an import that changes nothing writes nothing.
    Permissions are the caller's business. ``progress(done, total)`` is called as rows are
    dealt with, ``total`` being the data rows of the files.
    """
    return _Import(files, actor=actor, trial=trial, dry_run=dry_run, progress=progress).run()


class _Import:
    def __init__(
        self,
        files: Mapping[str, bytes],
        *,
        actor: User,
        trial: Trial | None,
        dry_run: bool,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.files = files
        self.actor = actor
        self.trial = trial
        self.report = ImportReport(dry_run=dry_run)
        if progress is not None:
            # Each data row is counted or refused about once (lines less the header).
            total = sum(max(data.count(b"\n") - 1, 1) for data in files.values())
            self.report.on_row = lambda done: progress(min(done, total), total)
        self.tables: dict[str, Table] = {}  # files read, with a usable header
        self.read_files: set[str] = set()
        # What the trial holds already (empty for a new trial), read for the first pass.
        self.known_sites: set[str] = set()
        self.known_arms: set[str] = set()
        self.known_visits: set[str] = set()
        self.known_covariates: dict[str, bool] = {}
        self.known_study_ids: set[str] = set()
        self.known_withdrawals: dict[str, dt.date] = {}
        self.covariate_columns: list[str] = []
        self.failed: set[str] = set()  # study ids whose participant row failed
        self.unallocated: set[str] = set()  # study ids whose allocation row failed
        # Filled while applying, under the trial's lock.
        self.sites: dict[str, Site] = {}
        self.participants: dict[str, Participant] = {}

    # Entry ---------------------------------------------------------------------------------

    def run(self) -> ImportReport:
        report = self.report
        for name, data in self.files.items():
            if name not in FILES:
                report.error(
                    name,
                    0,
                    None,
                    _("Unknown file; the files are: %(names)s.") % {"names": ", ".join(FILES)},
                )
                continue
            report.digests[name] = hashlib.sha256(data).hexdigest()
            report.files[name] = FileCounts()
        trial_row = self._read_trial()
        if self.trial is None:
            # Even when trial.csv's row is in error, the other files are checked against the
            # trial it names, if that exists.
            code = trial_row.values["code"] if trial_row else declared_trial_code(self.files)
            self.trial = Trial.objects.filter(code=code).first() if code else None
        if self.trial is not None:
            report.trial_code = self.trial.code
            self._load_known(self.trial)
        for name in (ARMS, SITES, COVARIATES, VISITS):
            self._read(name, SPECS[name])
        self._read_participants()
        self._read_allocations()
        self._read_assessments()
        self._read_withdrawals()
        if self.trial is not None or trial_row is not None:
            self._apply(trial_row)
        report.errors.sort(key=lambda e: (_file_order(e.file), e.line))
        return report

    # First pass: reading -------------------------------------------------------------------

    def _read_trial(self) -> Row | None:
        if TRIAL not in self.files:
            if self.trial is None:
                self.report.error(
                    TRIAL,
                    0,
                    None,
                    _("The file is missing: it names the trial to create or add to."),
                )
            return None
        table = self._read(TRIAL, SPECS[TRIAL])
        if table is None or table.invalid_keys:
            return None
        if len(table.rows) != 1:
            self.report.error(TRIAL, 0, None, _("Give exactly one row: the trial."))
            return None
        row = table.rows[0]
        self.report.trial_code = row.values["code"]
        if self.trial is not None and row.values["code"] != self.trial.code:
            self.report.error(
                TRIAL,
                row.line,
                "code",
                _("These files are being imported into trial %(code)s.")
                % {"code": self.trial.code},
            )
            return None
        return row

    def _load_known(self, trial: Trial) -> None:
        self.known_sites = set(trial.sites.values_list("code", flat=True))
        self.known_arms = set(trial.arms.values_list("code", flat=True))
        self.known_visits = set(trial.visit_definitions.values_list("code", flat=True))
        self.known_covariates = dict(trial.covariates.values_list("key", "required"))
        self.known_study_ids = set(trial.participants.values_list("study_id", flat=True))
        self.known_withdrawals = dict(
            Withdrawal.objects.filter(participant__trial=trial).values_list(
                "participant__study_id", "withdrawn_on"
            )
        )

    def _read(
        self,
        name: str,
        spec: dict[str, Column],
        *,
        required_extra: Iterable[str] = (),
    ) -> Table | None:
        """Parse one file against ``spec``; None when it is absent or its header is unusable.

        Each file is read once; asking again gives the same table.
        """
        data = self.files.get(name)
        if data is None or name in self.read_files:
            return self.tables.get(name)
        self.read_files.add(name)
        report = self.report
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            report.error(name, line, None, _("The file is not UTF-8 text."))
            return None
        table = Table(name)
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            records = list(reader)
        except csv.Error as exc:
            report.error(
                name, reader.line_num, None, _("Not valid CSV: %(error)s") % {"error": exc}
            )
            return None
        if not records or not any(cell.strip() for cell in records[0]):
            report.error(name, 1, None, _("The file is empty: a header row is required."))
            return None
        header = [cell.strip() for cell in records[0]]
        # Characters the database cannot store (NUL) are an error on their cell; one C-speed
        # scan of the text when the file has none.
        check_characters = unstorable_character(text) is not None
        usable = True
        seen: set[str] = set()
        for column in header:
            if not column:
                report.error(name, 1, None, _("A column has no name."))
                usable = False
                continue
            character = unstorable_character(column) if check_characters else None
            if character is not None:
                report.error(name, 1, printable(column), _not_allowed(character))
                usable = False
                continue
            if column in seen:
                report.error(name, 1, column, _("This column appears twice."))
                usable = False
            seen.add(column)
            if column not in spec:
                report.error(name, 1, column, _("Unknown column."))
        missing = [c.name for c in spec.values() if c.required and c.name not in seen]
        missing += [key for key in required_extra if key not in seen]
        for column in missing:
            report.error(name, 1, column, _("This column is missing."))
        if missing or not usable:
            return None
        table.columns = {column for column in header if column in spec}
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
            if check_characters and self._unstorable(name, line, raw):
                values = {}
            else:
                values = self._parse_row(name, line, raw, spec)
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
        self.tables[name] = table
        return table

    def _unstorable(self, name: str, line: int, raw: dict[str, str]) -> bool:
        """Report each cell of the row holding a character the database cannot store; the row
        is then parsed no further. Whether there was one."""
        found = False
        for column, text in raw.items():
            character = unstorable_character(text)
            if character is not None:
                self.report.error(name, line, column, _not_allowed(character))
                found = True
        return found

    def _parse_row(
        self, name: str, line: int, raw: dict[str, str], spec: dict[str, Column]
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for column in spec.values():
            if column.name not in raw:
                values[column.name] = _fresh(column.default)
                continue
            text = raw[column.name]
            if not text:
                if column.blank:
                    values[column.name] = _fresh(column.default)
                else:
                    self.report.error(name, line, column.name, _("This value is required."))
                continue
            try:
                values[column.name] = column.parse(text)
            except ValidationError as exc:
                self.report.error(name, line, column.name, " ".join(exc.messages))
            except ValueError as exc:
                self.report.error(name, line, column.name, str(exc))
        return values

    def _check_reference(
        self, table: Table, row: Row, column: str, known: set[str], message: str, source: str
    ) -> bool:
        """Is the value a known subject (site, arm, visit, study id) of ``source`` or the trial?

        When ``source`` was given but could not be read, its own errors explain the problem,
        so the row is set aside without an error of its own.
        """
        value = row.values[column]
        if value in known:
            return True
        if source not in self.files or source in self.tables:
            self.report.error(table.name, row.line, column, message % {"value": value})
        table.invalid_keys.add(row.values.get("study_id", value))
        return False

    def _keep_valid(self, table: Table, check: Callable[[Row], bool]) -> None:
        table.rows = [row for row in table.rows if check(row)]

    def _all_sites(self) -> set[str]:
        return self.known_sites | self._table_keys(SITES)

    def _table_keys(self, name: str) -> set[str]:
        table = self.tables.get(name)
        return table.keys if table else set()

    def _read_participants(self) -> None:
        covariates = dict(self.known_covariates)
        broken: set[str] = set()
        new = self.tables.get(COVARIATES)
        if new is not None:
            for row in new.rows:
                covariates.setdefault(row.values["key"], row.values["required"])
            for key in new.keys:
                covariates.setdefault(key, False)
            broken = new.invalid_keys
        fixed = SPECS[PARTICIPANTS]
        spec = dict(fixed)
        for key in covariates:
            # Typed by the enrolment service, against the trial's definitions.
            spec.setdefault(key, _optional(key, _text, ""))
        required = [key for key, needed in covariates.items() if needed and key not in fixed]
        table = self._read(PARTICIPANTS, spec, required_extra=required)
        if table is None:
            return
        # A covariate whose own row is in error is reported there, not on every participant.
        self.covariate_columns = [
            key for key in covariates if key in table.columns and key not in fixed.keys() | broken
        ]
        sites = self._all_sites()
        numbers: dict[str, int] = {}

        def check(row: Row) -> bool:
            ok = self._check_reference(
                table, row, "site", sites, _("Unknown site %(value)s."), SITES
            )
            number = row.values.get("personal_number")
            if number:
                if number in numbers:
                    self.report.error(
                        PARTICIPANTS,
                        row.line,
                        "personal_number",
                        _("The same personal number is on line %(line)s.")
                        % {"line": numbers[number]},
                    )
                    table.invalid_keys.add(row.values["study_id"])
                    ok = False
                numbers.setdefault(number, row.line)
            return ok

        self._keep_valid(table, check)
        self.failed |= table.invalid_keys

    def _study_ids(self) -> set[str]:
        return self.known_study_ids | self._table_keys(PARTICIPANTS)

    def _read_allocations(self) -> None:
        table = self._read(ALLOCATIONS, SPECS[ALLOCATIONS])
        if table is None:
            return
        study_ids = self._study_ids()
        arms = self.known_arms | self._table_keys(ARMS)

        def check(row: Row) -> bool:
            known = self._check_reference(
                table, row, "study_id", study_ids, _("Unknown study id %(value)s."), PARTICIPANTS
            )
            arm = self._check_reference(table, row, "arm", arms, _("Unknown arm %(value)s."), ARMS)
            return known and arm

        self._keep_valid(table, check)
        self.unallocated |= table.invalid_keys

    def _read_assessments(self) -> None:
        table = self._read(ASSESSMENTS, SPECS[ASSESSMENTS])
        if table is None:
            return
        study_ids = self._study_ids()
        visits = self.known_visits | self._table_keys(VISITS)
        withdrawn = dict(self.known_withdrawals)
        seen: dict[tuple[str, str], int] = {}
        # Withdrawals are read after assessments, but dated checks need them now.
        withdrawals = self._read(WITHDRAWALS, SPECS[WITHDRAWALS])
        if withdrawals is not None:
            for row in withdrawals.rows:
                withdrawn.setdefault(row.values["study_id"], row.values["withdrawn_on"])

        def check(row: Row) -> bool:
            ok = self._check_reference(
                table, row, "study_id", study_ids, _("Unknown study id %(value)s."), PARTICIPANTS
            )
            ok = (
                self._check_reference(
                    table, row, "visit", visits, _("Unknown visit %(value)s."), VISITS
                )
                and ok
            )
            pair = (row.values["study_id"], row.values["visit"])
            if pair in seen:
                self.report.error(
                    ASSESSMENTS,
                    row.line,
                    "visit",
                    _("This visit of %(study_id)s is on line %(line)s already.")
                    % {"study_id": pair[0], "line": seen[pair]},
                )
                ok = False
            seen.setdefault(pair, row.line)
            left = withdrawn.get(row.values["study_id"])
            if left is not None and row.values["assessed_on"] > left:
                self.report.error(
                    ASSESSMENTS,
                    row.line,
                    "assessed_on",
                    _("%(study_id)s withdrew on %(date)s: no data may be recorded after that.")
                    % {"study_id": row.values["study_id"], "date": left.isoformat()},
                )
                ok = False
            return ok

        self._keep_valid(table, check)

    def _read_withdrawals(self) -> None:
        table = self._read(WITHDRAWALS, SPECS[WITHDRAWALS])
        if table is None:
            return
        study_ids = self._study_ids()
        self._keep_valid(
            table,
            lambda row: self._check_reference(
                table, row, "study_id", study_ids, _("Unknown study id %(value)s."), PARTICIPANTS
            ),
        )

    # Second pass: applying -----------------------------------------------------------------

    def _apply(self, trial_row: Row | None) -> None:
        with transaction.atomic():
            trial = self._apply_trial(trial_row)
            if trial is not None:
                self._apply_setup(trial)
                prefetch_related_objects([trial], "covariates")
                self._apply_participants(trial)
                self._apply_allocations(trial)
                self._apply_assessments(trial)
                self._apply_withdrawals(trial)
                if trial_row is not None and self.trial is None:
                    self._apply_status(trial, trial_row)
            if self.report.errors or self.report.dry_run or trial is None:
                transaction.set_rollback(True)
                return
            if self.report.created:
                audit.record(
                    "trial.imported",
                    trial,
                    actor=self.actor,
                    trial=trial,
                    data={
                        "files": {
                            name: {
                                "sha256": self.report.digests[name],
                                "created": counts.created,
                                "unchanged": counts.unchanged,
                            }
                            for name, counts in self.report.files.items()
                        }
                    },
                )
                self.report.written = True

    def _refused(
        self,
        name: str,
        line: int,
        error: trial_services.TrialError | ValidationError,
        renames: Mapping[str, str] | None = None,
    ) -> None:
        """Put a service's refusal on the row, in the column it names."""
        renames = renames or {}
        if isinstance(error, trial_services.BaselineError):
            for key, message in error.errors.items():
                self.report.error(name, line, key, message)
        elif isinstance(error, trial_services.TrialError):
            column = renames.get(error.field or "", error.field)
            self.report.error(name, line, column, error.message)
        elif hasattr(error, "error_dict"):
            for key, messages in error.message_dict.items():
                column = "" if key == NON_FIELD_ERRORS else renames.get(key, key)
                self.report.error(name, line, column, " ".join(messages))
        else:
            self.report.error(name, line, None, " ".join(error.messages))

    def _differs(self, name: str, row: Row, subject: str, columns: dict[str, Any]) -> bool:
        """Report each column whose stored value differs; True if any does."""
        for column, stored in columns.items():
            shown = "–" if stored in (None, "") else str(stored)
            self.report.error(
                name,
                row.line,
                column,
                _("%(subject)s exists already with a different value (stored: %(value)s).")
                % {"subject": subject, "value": shown},
            )
        return bool(columns)

    def _compare(
        self,
        name: str,
        row: Row,
        instance: models.Model,
        subject: str,
        columns: set[str],
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """Count an existing object as unchanged, or report the columns that differ."""
        given = row.values if values is None else values
        differing = {
            column: getattr(instance, column)
            for column in sorted(columns)
            if _normalise(getattr(instance, column)) != _normalise(given[column])
        }
        if not self._differs(name, row, subject, differing):
            self.report.count(name, created=False)

    def _apply_trial(self, row: Row | None) -> Trial | None:
        if self.trial is not None:
            # The trial's row lock is the one randomisation takes: held while set-up,
            # participants or allocations are written, so the hash chain and the enrolments
            # stay in order. A check writes nothing in the end, and assessments and
            # withdrawals lock their own visit or participant: those go on without it, and
            # staff can randomise meanwhile.
            locking = not self.report.dry_run and bool(set(self.files) - PER_PARTICIPANT)
            trials = Trial.objects.select_for_update() if locking else Trial.objects
            trial = trials.get(pk=self.trial.pk)
            if row is not None:
                table = self.tables[TRIAL]
                compared = table.columns - {"code"}
                self._compare(TRIAL, row, trial, trial.code, compared)
            return trial
        if row is None:
            return None
        values = row.values
        try:
            trial = setup.create_trial(
                code=values["code"],
                title=values["title"],
                registry_id=values["registry_id"],
                design=values["design"],
                target_size=values["target_size"],
                eligibility_check=values["eligibility_check"],
                actor=self.actor,
            )
        except trial_services.TrialError as error:
            self._refused(TRIAL, row.line, error)
            return None
        self.report.count(TRIAL, created=True)
        return trial

    def _apply_setup(self, trial: Trial) -> None:
        steps: list[tuple[str, Callable[..., Any], Any]] = [
            (ARMS, setup.add_arm, trial.arms),
            (SITES, setup.add_site, trial.sites),
            (COVARIATES, setup.add_covariate, trial.covariates),
            (VISITS, setup.add_visit_definition, trial.visit_definitions),
        ]
        for name, add, related in steps:
            table = self.tables.get(name)
            if table is None:
                continue
            key = KEYS[name]
            existing = {getattr(item, key): item for item in related.all()}
            for position, row in enumerate(table.rows, start=1):
                values = dict(row.values)
                if name == COVARIATES and values["order"] is None:
                    values["order"] = position
                found = existing.get(values[key])
                if found is not None:
                    self._compare(name, row, found, values[key], table.columns - {key}, values)
                    continue
                try:
                    add(trial, actor=self.actor, **values)
                except trial_services.TrialError as error:
                    self._refused(name, row.line, error)
                else:
                    self.report.count(name, created=True)

    def _apply_status(self, trial: Trial, row: Row) -> None:
        for status in STATUS_PATH[Trial.Status(row.values["status"])]:
            try:
                trial = setup.change_trial_status(trial, status, actor=self.actor)
            except trial_services.TrialError as error:
                self._refused(TRIAL, row.line, error)
                return

    def _apply_participants(self, trial: Trial) -> None:
        self.sites = {site.code: site for site in trial.sites.all()}
        for participant in Participant.objects.filter(trial=trial).select_related("site"):
            participant.trial = trial
            self.participants[participant.study_id] = participant
        table = self.tables.get(PARTICIPANTS)
        if table is None:
            return
        for row in table.rows:
            values = row.values
            study_id = values["study_id"]
            baseline = {key: values[key] for key in self.covariate_columns}
            existing = self.participants.get(study_id)
            if existing is not None:
                if not self._same_participant(trial, table, row, existing, baseline):
                    self.failed.add(study_id)
                continue
            site = self.sites.get(values["site"])
            if site is None:
                self.failed.add(study_id)
                continue  # the site's own row in sites.csv is in error
            # A value outside an eligibility range is an error on its cell, or, when the trial
            # accepts such values, a warning there (the enrolment is audited as such).
            warn = trial.eligibility_check == Trial.EligibilityCheck.WARN
            try:
                participant = trial_services.enrol_participant(
                    trial,
                    site=site,
                    personal_number=values["personal_number"],
                    enrolled_on=values["enrolled_on"],
                    consent_version=values["consent_version"],
                    consent_date=values["consent_date"],
                    baseline=baseline,
                    actor=self.actor,
                    study_id=study_id,
                    accept_ineligible=warn,
                )
            except trial_services.TrialError as error:
                self._refused(PARTICIPANTS, row.line, error)
                self.failed.add(study_id)
                continue
            if warn:
                outside = trial_services.eligibility_problems(trial, participant.baseline)
                for key, message in outside.items():
                    self.report.warn(PARTICIPANTS, row.line, key, message)
            self.participants[study_id] = participant
            self.report.count(PARTICIPANTS, created=True)

    def _same_participant(
        self,
        trial: Trial,
        table: Table,
        row: Row,
        participant: Participant,
        baseline: dict[str, Any],
    ) -> bool:
        values = row.values
        try:
            clean = trial_services.validate_baseline(trial, baseline)
        except trial_services.BaselineError as error:
            self._refused(PARTICIPANTS, row.line, error)
            return False
        differing: dict[str, Any] = {}
        if participant.site.code != values["site"]:
            differing["site"] = participant.site.code
        for column in ("enrolled_on", "consent_version", "consent_date"):
            if getattr(participant, column) != values[column]:
                differing[column] = getattr(participant, column)
        for key in self.covariate_columns:
            if participant.baseline.get(key) != clean.get(key):
                differing[key] = participant.baseline.get(key)
        if self._differs(PARTICIPANTS, row, participant.study_id, differing):
            return False
        number = values["personal_number"]
        digest = personal_numbers.lookup_hash(number) if number else None
        if "personal_number" in table.columns and digest != participant.personal_number_hash:
            # Never show a stored number.
            self.report.error(
                PARTICIPANTS,
                row.line,
                "personal_number",
                _("%(study_id)s exists already with a different personal number.")
                % {"study_id": participant.study_id},
            )
            return False
        self.report.count(PARTICIPANTS, created=False)
        return True

    def _apply_allocations(self, trial: Trial) -> None:
        table = self.tables.get(ALLOCATIONS)
        if table is None:
            return
        arms = {arm.code: arm for arm in trial.arms.all()}
        existing = {
            allocation.participant_id: allocation
            for allocation in Allocation.objects.filter(trial=trial, participant__isnull=False)
            .select_related("arm")
            .order_by()
        }
        digest = self.report.digests[ALLOCATIONS][:12]
        for row in table.rows:
            values = row.values
            study_id = values["study_id"]
            participant = self.participants.get(study_id)
            if participant is None or study_id in self.failed:
                self.unallocated.add(study_id)
                continue  # its participant row is in error already
            arm = arms.get(values["arm"])
            allocation = existing.get(participant.pk)
            if arm is None and allocation is None:
                self.unallocated.add(study_id)
                continue  # the arm's own row in arms.csv is in error
            if allocation is not None:
                differing = {
                    column: stored
                    for column, stored, given in (
                        ("arm", allocation.arm.code, values["arm"]),
                        ("randomised_on", allocation.allocated_on, values["randomised_on"]),
                        ("reference", allocation.reference, values["reference"]),
                    )
                    if column in table.columns and stored != given
                }
                if self._differs(ALLOCATIONS, row, study_id, differing):
                    self.unallocated.add(study_id)
                else:
                    self.report.count(ALLOCATIONS, created=False)
                continue
            try:
                services.record_manual(
                    participant,
                    arm=arm,  # type: ignore[arg-type]  # None only with an allocation (above)
                    on=values["randomised_on"],
                    reference=values["reference"],
                    reason=f"imported: {ALLOCATIONS} line {row.line} (sha256 {digest})",
                    actor=self.actor,
                    source=Allocation.Source.IMPORTED,
                )
            except trial_services.TrialError as error:
                self._refused(ALLOCATIONS, row.line, error, {"on": "randomised_on"})
                self.unallocated.add(study_id)
                continue
            self.report.count(ALLOCATIONS, created=True)

    def _apply_assessments(self, trial: Trial) -> None:
        table = self.tables.get(ASSESSMENTS)
        if table is None:
            return
        defined = set(trial.visit_definitions.values_list("code", flat=True))
        visits = {
            (visit.participant_id, visit.definition.code): visit
            for visit in Visit.objects.filter(participant__trial=trial).select_related("definition")
        }
        instrument = default_instrument(trial, actor=self.actor) if table.rows else None
        recorded = {
            assessment.visit_id: assessment
            for assessment in Assessment.objects.filter(
                visit__participant__trial=trial, instrument=instrument
            )
        }
        for row in table.rows:
            values = row.values
            study_id = values["study_id"]
            participant = self.participants.get(study_id)
            if (
                participant is None
                or study_id in self.failed
                or study_id in self.unallocated
                or values["visit"] not in defined
            ):
                continue  # its participant, allocation or visits.csv row is in error already
            visit = visits.get((participant.pk, values["visit"]))
            if visit is None:
                message = (
                    _("%(study_id)s has not been randomised, so has no follow-up visits.")
                    if participant.randomised_on is None
                    else _("%(study_id)s has no visit %(visit)s.")
                )
                self.report.error(
                    ASSESSMENTS,
                    row.line,
                    "visit",
                    message % {"study_id": study_id, "visit": values["visit"]},
                )
                continue
            visit.participant = participant
            answers = {"assessed_on": values["assessed_on"]}
            answers.update({name: values[name] for name in ASSESSMENT_FIELDS})
            answers = _zero_out_of_work(answers)
            existing = recorded.get(visit.pk)
            if existing is not None:
                subject = f"{study_id} {values['visit']}"
                stored = _zero_out_of_work({"assessed_on": existing.assessed_on, **existing.values})
                columns = table.columns & set(answers)
                differing = {
                    column: stored.get(column)
                    for column in sorted(columns)
                    if _blank_none(stored.get(column)) != _blank_none(answers[column])
                }
                if not self._differs(ASSESSMENTS, row, subject, differing):
                    self.report.count(ASSESSMENTS, created=False)
                continue
            try:
                instrument_services.record_assessment(
                    visit,
                    values=answers,
                    actor=self.actor,
                    instrument=instrument,
                    source=Assessment.Source.IMPORT,
                )
            except instrument_services.AnswersError as error:
                for column, message in error.answer_errors.items():
                    self.report.error(ASSESSMENTS, row.line, column, message)
                continue
            except trial_services.TrialError as error:
                self._refused(ASSESSMENTS, row.line, error)
                continue
            self.report.count(ASSESSMENTS, created=True)

    def _apply_withdrawals(self, trial: Trial) -> None:
        table = self.tables.get(WITHDRAWALS)
        if table is None:
            return
        existing = {
            withdrawal.participant_id: withdrawal
            for withdrawal in Withdrawal.objects.filter(participant__trial=trial)
        }
        for row in table.rows:
            values = row.values
            study_id = values["study_id"]
            participant = self.participants.get(study_id)
            if participant is None or study_id in self.failed:
                continue  # its participant row is in error already
            withdrawal = existing.get(participant.pk)
            if withdrawal is not None:
                columns = table.columns - {"study_id"}
                self._compare(WITHDRAWALS, row, withdrawal, study_id, columns)
                continue
            try:
                trial_services.withdraw_participant(
                    participant,
                    withdrawn_on=values["withdrawn_on"],
                    scope=values["scope"],
                    reason=values["reason"],
                    actor=self.actor,
                )
            except trial_services.TrialError as error:
                self._refused(WITHDRAWALS, row.line, error)
                continue
            self.report.count(WITHDRAWALS, created=True)


def _fresh(default: Any) -> Any:
    """A default safe to hand out: tuples stand for new, empty lists."""
    return list(default) if isinstance(default, tuple) else default


def _zero_out_of_work(answers: dict[str, Any]) -> dict[str, Any]:
    """Answers with a zero in hours or earnings next to "not in paid work" read as empty.

    The file format allows that zero (docs/import-formats.md; the old columns kept it), while
    the instrument asks neither item of someone not in paid work."""
    if answers.get("in_paid_work") is not False:
        return answers
    return {
        name: None if name in ("hours_per_week", "monthly_earnings") and value == 0 else value
        for name, value in answers.items()
    }


def _blank_none(value: Any) -> Any:
    """A stored or given answer for comparing: blanks ("" and None) alike, text stripped."""
    value = _normalise(value)
    return None if value in ("", None) else value


def _normalise(value: Any) -> Any:
    """Compare stored and given values alike (JSON lists of pairs, stripped text)."""
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    if isinstance(value, str):
        return value.strip()
    return value


def _file_order(name: str) -> int:
    return FILES.index(name) if name in FILES else -1
