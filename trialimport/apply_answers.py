"""Applying assessments (in bulk) and withdrawals.

Each row's answers were read and cleaned by their instruments in the first pass; here each
instrument's answers at the visit are checked by the data-entry rules that need the trial's
state (``instruments.services.check_entry``: withdrawn, dates, the instrument asked at the
visit, answered already), with the visits and earlier answers read once, and the new ones are
written together (``instruments.services.record_assessments``). Withdrawals are few: each goes
through ``trial.services.withdraw_participant``.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError
from django.utils.translation import gettext as _

from instruments import builtin
from instruments.models import Assessment, Instrument, InstrumentVersion, VisitInstrument
from instruments.services import Entry, check_entry, record_assessments
from instruments.setup.services import default_instrument
from trial.models import Trial, Visit, Withdrawal
from trial.services import TrialError, withdraw_participant
from trialimport.apply_people import concurrent
from trialimport.columns import ASSESSMENTS, WITHDRAWALS
from trialimport.items import ZERO_WHEN_NOT_WORKING, Answered, Form
from trialimport.reading import Row
from trialimport.state import State, blank_none


def _instruments(state: State, trial: Trial) -> dict[str, tuple[Instrument, InstrumentVersion]]:
    """Each instrument of the file's rows as stored, the default made if a row needs it."""
    found: dict[str, tuple[Instrument, InstrumentVersion]] = {}
    for form in state.items.forms.values():
        if form.instrument is not None and form.version is not None:
            found[form.code] = (form.instrument, form.version)
    table = state.tables[ASSESSMENTS]
    needed = {a.form.code for row in table.rows for a in row.values["answers"]}
    for code in needed - found.keys():
        instrument = default_instrument(trial, actor=state.actor)
        found[code] = (instrument, instrument.current_version())
    return found


def apply_assessments(state: State, trial: Trial) -> None:
    table = state.tables.get(ASSESSMENTS)
    if table is None:
        return
    definitions = {definition.pk: definition for definition in trial.visit_definitions.all()}
    visits = {}
    for visit in Visit.objects.filter(participant__trial=trial):
        visit.definition = definitions[visit.definition_id]
        visits[(visit.participant_id, visit.definition.code)] = visit
    defined = {definition.code for definition in definitions.values()}
    instruments = _instruments(state, trial)
    recorded = {
        (assessment.visit_id, assessment.instrument_id): assessment
        for assessment in Assessment.objects.of_trial(trial)
    }
    attached: dict[int, set[int]] = {}
    for definition_id, instrument_id in VisitInstrument.objects.filter(
        visit_definition__trial=trial
    ).values_list("visit_definition_id", "instrument_id"):
        attached.setdefault(definition_id, set()).add(instrument_id)
    entries: list[Entry] = []
    created_rows = 0
    for row in table.rows:
        visit = _visit(state, row, defined, visits)
        if visit is None:
            continue
        created = False
        refused = False
        for answered in row.values["answers"]:
            instrument, version = instruments[answered.form.code]
            existing = recorded.get((visit.pk, instrument.pk))
            if existing is not None:
                refused = _differs(state, row, existing, answered) or refused
                continue
            try:
                check_entry(
                    visit,
                    instrument,
                    row.values["assessed_on"],
                    attached=attached.get(visit.definition_id, set()),
                )
            except TrialError as error:
                state.refused(ASSESSMENTS, row.line, error)
                refused = True
                continue
            entries.append(
                Entry(visit, instrument, version, row.values["assessed_on"], answered.answers)
            )
            created = True
        if refused:
            continue
        if created:
            created_rows += 1
        else:
            state.report.count(ASSESSMENTS, created=False)
    _write(state, entries)
    # Counted once written, so that progress (and the benchmark's phases) follow the writes.
    state.report.count(ASSESSMENTS, created=True, rows=created_rows)


def _write(state: State, entries: list[Entry]) -> None:
    try:
        record_assessments(entries, actor=state.actor, source=Assessment.Source.IMPORT)
    except TrialError as error:
        state.report.error(ASSESSMENTS, 0, None, error.message)
    except IntegrityError:
        state.report.error(ASSESSMENTS, 0, None, concurrent())


def _visit(
    state: State, row: Row, defined: set[str], visits: dict[tuple[int, str], Visit]
) -> Visit | None:
    """The row's visit; None (reported, or set aside) when it has none."""
    values = row.values
    study_id = values["study_id"]
    participant = state.participants.get(study_id)
    if (
        participant is None
        or study_id in state.failed
        or study_id in state.unallocated
        or values["visit"] not in defined
    ):
        return None  # its participant, allocation or visits.csv row is in error already
    visit = visits.get((participant.pk, values["visit"]))
    if visit is None:
        message = (
            _("%(study_id)s has not been randomised, so has no follow-up visits.")
            if participant.randomised_on is None
            else _("%(study_id)s has no visit %(visit)s.")
        )
        state.report.error(
            ASSESSMENTS,
            row.line,
            "visit",
            message % {"study_id": study_id, "visit": values["visit"]},
        )
        return None
    visit.participant = participant
    return visit


def _comparable(form: Form, values: dict[str, Any]) -> dict[str, Any]:
    """Stored answers as the file gives them: the built-in instrument's zeros in hours or
    earnings next to "not in paid work" (kept from the old columns) read as empty."""
    if form.builtin != builtin.EMPLOYMENT or values.get("in_paid_work") is not False:
        return values
    return {
        name: None if name in ZERO_WHEN_NOT_WORKING and value == 0 else value
        for name, value in values.items()
    }


def _differs(state: State, row: Row, existing: Assessment, answered: Answered) -> bool:
    """Report the columns whose stored answer differs from the row's; True if any does."""
    stored = {**existing.missing, **_comparable(answered.form, existing.values)}
    given = {**answered.answers.missing, **answered.answers.values}
    differing = {
        name: stored.get(name)
        for name in sorted(answered.given)
        if blank_none(stored.get(name)) != blank_none(given.get(name))
    }
    if existing.assessed_on != row.values["assessed_on"]:
        differing = {"assessed_on": existing.assessed_on, **differing}
    subject = f"{row.values['study_id']} {row.values['visit']}"
    return state.differs(ASSESSMENTS, row, subject, dict(sorted(differing.items())))


def apply_withdrawals(state: State, trial: Trial) -> None:
    table = state.tables.get(WITHDRAWALS)
    if table is None:
        return
    existing = {
        withdrawal.participant_id: withdrawal
        for withdrawal in Withdrawal.objects.filter(participant__trial=trial)
    }
    for row in table.rows:
        values = row.values
        study_id = values["study_id"]
        participant = state.participants.get(study_id)
        if participant is None or study_id in state.failed:
            continue  # its participant row is in error already
        withdrawal = existing.get(participant.pk)
        if withdrawal is not None:
            columns = table.columns - {"study_id"}
            state.compare(WITHDRAWALS, row, withdrawal, study_id, columns)
            continue
        try:
            withdraw_participant(
                participant,
                withdrawn_on=values["withdrawn_on"],
                scope=values["scope"],
                reason=values["reason"],
                actor=state.actor,
            )
        except TrialError as error:
            state.refused(WITHDRAWALS, row.line, error)
            continue
        state.report.count(WITHDRAWALS, created=True)
