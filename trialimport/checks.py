"""The first pass of an import: every file read and checked before anything is written.

References between the files (sites, arms, visits, study ids) are checked against the files and
what the trial holds, duplicates within a file and personal numbers given twice are refused,
assessments dated after a withdrawal too, and each assessment row's answers go through its
instruments' own check (``trialimport.items``). A row with an error is set aside, and so are the
rows of other files that depend on its subject, without an error of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext as _

from trial.models import Trial, Withdrawal
from trialimport import items
from trialimport.columns import (
    ALLOCATIONS,
    ARMS,
    ASSESSMENTS,
    COVARIATES,
    PARTICIPANTS,
    SITES,
    SPECS,
    TRIAL,
    VISITS,
    WITHDRAWALS,
    optional,
    parse_text,
)
from trialimport.reading import Row, Table
from trialimport.state import State


def read_trial(state: State) -> Row | None:
    """trial.csv's one row, when it is valid and names the trial imported into."""
    if TRIAL not in state.files:
        if state.trial is None:
            state.report.error(
                TRIAL, 0, None, _("The file is missing: it names the trial to create or add to.")
            )
        return None
    table = state.read(TRIAL, SPECS[TRIAL])
    if table is None or table.invalid_keys:
        return None
    if len(table.rows) != 1:
        state.report.error(TRIAL, 0, None, _("Give exactly one row: the trial."))
        return None
    row = table.rows[0]
    state.report.trial_code = row.values["code"]
    if state.trial is not None and row.values["code"] != state.trial.code:
        state.report.error(
            TRIAL,
            row.line,
            "code",
            _("These files are being imported into trial %(code)s.") % {"code": state.trial.code},
        )
        return None
    return row


def load_known(state: State, trial: Trial) -> None:
    state.known_sites = set(trial.sites.values_list("code", flat=True))
    state.known_arms = set(trial.arms.values_list("code", flat=True))
    state.known_visits = set(trial.visit_definitions.values_list("code", flat=True))
    state.known_covariates = dict(trial.covariates.values_list("key", "required"))
    state.known_study_ids = set(trial.participants.values_list("study_id", flat=True))
    state.known_withdrawals = dict(
        Withdrawal.objects.filter(participant__trial=trial).values_list(
            "participant__study_id", "withdrawn_on"
        )
    )


def check_reference(
    state: State, table: Table, row: Row, column: str, known: set[str], message: str, source: str
) -> bool:
    """Is the value a known subject (site, arm, visit, study id) of ``source`` or the trial?

    When ``source`` was given but could not be read, its own errors explain the problem,
    so the row is set aside without an error of its own.
    """
    value = row.values[column]
    if value in known:
        return True
    if source not in state.files or source in state.tables:
        state.report.error(table.name, row.line, column, message % {"value": value})
    table.invalid_keys.add(row.values.get("study_id", value))
    return False


def _known_study_id(state: State, table: Table) -> Callable[[Row], bool]:
    study_ids = state.study_ids()

    def check(row: Row) -> bool:
        message = _("Unknown study id %(value)s.")
        return check_reference(state, table, row, "study_id", study_ids, message, PARTICIPANTS)

    return check


def read_participants(state: State) -> None:
    covariates = dict(state.known_covariates)
    broken: set[str] = set()
    new = state.tables.get(COVARIATES)
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
        spec.setdefault(key, optional(key, parse_text, ""))
    required = [key for key, needed in covariates.items() if needed and key not in fixed]
    table = state.read(PARTICIPANTS, spec, required_extra=required)
    if table is None:
        return
    # A covariate whose own row is in error is reported there, not on every participant.
    state.covariate_columns = [
        key for key in covariates if key in table.columns and key not in fixed.keys() | broken
    ]
    sites = state.known_sites | state.table_keys(SITES)
    numbers: dict[str, int] = {}

    def check(row: Row) -> bool:
        message = _("Unknown site %(value)s.")
        ok = check_reference(state, table, row, "site", sites, message, SITES)
        number = row.values.get("personal_number")
        if number:
            if number in numbers:
                state.report.error(
                    PARTICIPANTS,
                    row.line,
                    "personal_number",
                    _("The same personal number is on line %(line)s.") % {"line": numbers[number]},
                )
                table.invalid_keys.add(row.values["study_id"])
                ok = False
            numbers.setdefault(number, row.line)
        return ok

    table.keep_valid(check)
    state.failed |= table.invalid_keys


def read_allocations(state: State) -> None:
    table = state.read(ALLOCATIONS, SPECS[ALLOCATIONS])
    if table is None:
        return
    known = _known_study_id(state, table)
    arms = state.known_arms | state.table_keys(ARMS)

    def check(row: Row) -> bool:
        ok = known(row)
        message = _("Unknown arm %(value)s.")
        return check_reference(state, table, row, "arm", arms, message, ARMS) and ok

    table.keep_valid(check)
    state.unallocated |= table.invalid_keys


def read_assessments(state: State) -> None:
    catalogue = state.items
    spec = {**SPECS[ASSESSMENTS], **catalogue.columns()}
    table = state.read(ASSESSMENTS, spec, unknown=catalogue.unknown)
    if table is None:
        return
    # A multiple choice given both ways, or in some of its choice columns only: an error on
    # the header; those choice columns are not read, so the rows are still checked.
    header_errors, aside = catalogue.header_errors(table.columns)
    for column, message in header_errors.items():
        state.report.error(ASSESSMENTS, 1, column, message)
    known = _known_study_id(state, table)
    visits = state.known_visits | state.table_keys(VISITS)
    withdrawn = dict(state.known_withdrawals)
    seen: dict[tuple[str, str], int] = {}
    # Withdrawals are read after assessments, but dated checks need them now.
    withdrawals = state.read(WITHDRAWALS, SPECS[WITHDRAWALS])
    if withdrawals is not None:
        for row in withdrawals.rows:
            withdrawn.setdefault(row.values["study_id"], row.values["withdrawn_on"])
    columns = (table.columns & (catalogue.items.keys() | catalogue.choice_columns.keys())) - aside

    def check(row: Row) -> bool:
        ok = known(row)
        message = _("Unknown visit %(value)s.")
        visit = row.values["visit"]
        if not check_reference(state, table, row, "visit", visits, message, VISITS):
            return False  # its instruments are unknown: the answers cannot be read
        pair = (row.values["study_id"], visit)
        if pair in seen:
            state.report.error(
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
            state.report.error(
                ASSESSMENTS,
                row.line,
                "assessed_on",
                _("%(study_id)s withdrew on %(date)s: no data may be recorded after that.")
                % {"study_id": row.values["study_id"], "date": left.isoformat()},
            )
            ok = False
        return _answers(state, row, visit, columns) and ok

    table.keep_valid(check)


def _answers(state: State, row: Row, visit: str, columns: set[str]) -> bool:
    """Read the row's answers (``row.values["answers"]``); report their errors."""
    cells: dict[str, Any] = {name: row.values[name] for name in columns}
    answered, errors = items.read_answers(state.items, visit, cells, columns)
    for column, message in errors.items():
        state.report.error(ASSESSMENTS, row.line, column, message)
    row.values["answers"] = answered
    return not errors


def read_withdrawals(state: State) -> None:
    table = state.read(WITHDRAWALS, SPECS[WITHDRAWALS])
    if table is None:
        return
    table.keep_valid(_known_study_id(state, table))
