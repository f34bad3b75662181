"""Applying participants and allocations, in bulk.

Each new row is checked by the service's own rules without writing
(``trial.services.prepare_enrolment``, ``randomisation.allocation.elsewhere.check_made_elsewhere``),
with what they need read once for the whole file; the valid rows are then written together by
the bulk services (one insert per table, the usual audit event for each object). A row already
in the trial is compared instead: unchanged, or an error naming the columns that differ.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from randomisation.allocation.elsewhere import Imported, check_made_elsewhere, record_imported
from randomisation.models import Allocation
from randomisation.schemes.services import lock_trial
from trial import audit, bulk, personal_numbers
from trial.models import Participant, Trial
from trial.services import (
    BaselineError,
    Enrolment,
    TrialError,
    enrolment_events,
    prepare_enrolment,
    validate_baseline,
)
from trialimport.columns import ALLOCATIONS, PARTICIPANTS
from trialimport.reading import Row, Table
from trialimport.state import State


def concurrent() -> str:
    """A write refused by the database after every row was checked: only a change made at
    the same moment by someone else can cause it."""
    return _(
        "The trial changed while the files were imported (someone else enrolled or randomised "
        "at the same moment): nothing was written. Check the files again."
    )


def apply_participants(state: State, trial: Trial) -> None:
    state.sites = {site.code: site for site in trial.sites.all()}
    for participant in Participant.objects.filter(trial=trial).select_related("site"):
        participant.trial = trial
        state.participants[participant.study_id] = participant
    table = state.tables.get(PARTICIPANTS)
    if table is None:
        return
    enrolled = _enrolled(trial, table)
    # A value outside an eligibility range is an error on its cell, or, when the trial accepts
    # such values, a warning there (the enrolment is audited as such).
    warn = trial.eligibility_check == Trial.EligibilityCheck.WARN
    enrolments: list[Enrolment] = []
    for row in table.rows:
        values = row.values
        study_id = values["study_id"]
        baseline = {key: values[key] for key in state.covariate_columns}
        existing = state.participants.get(study_id)
        if existing is not None:
            if not _same_participant(state, trial, table, row, existing, baseline):
                state.failed.add(study_id)
            continue
        site = state.sites.get(values["site"])
        if site is None:
            state.failed.add(study_id)
            continue  # the site's own row in sites.csv is in error
        try:
            enrolment = prepare_enrolment(
                trial,
                site=site,
                personal_number=values["personal_number"],
                enrolled_on=values["enrolled_on"],
                consent_version=values["consent_version"],
                consent_date=values["consent_date"],
                baseline=baseline,
                study_id=study_id,
                accept_ineligible=warn,
                enrolled=enrolled,
            )
        except TrialError as error:
            state.refused(PARTICIPANTS, row.line, error)
            state.failed.add(study_id)
            continue
        for key, message in enrolment.outside.items():
            state.report.warn(PARTICIPANTS, row.line, key, message)
        enrolments.append(enrolment)
        state.participants[study_id] = enrolment.participant
    _write_participants(state, enrolments)
    # Counted once written, so that progress (and the benchmark's phases) follow the writes.
    state.report.count(PARTICIPANTS, created=True, rows=len(enrolments))


def _enrolled(trial: Trial, table: Table) -> dict[str, str]:
    """The trial's participants among the file's personal numbers: hash -> study id."""
    digests = {
        personal_numbers.lookup_hash(number)
        for row in table.rows
        if (number := row.values.get("personal_number"))
    }
    if not digests:
        return {}
    found = Participant.objects.filter(trial=trial, personal_number_hash__in=digests)
    return {
        digest: study_id
        for digest, study_id in found.values_list("personal_number_hash", "study_id")
        if digest
    }


def _write_participants(state: State, enrolments: list[Enrolment]) -> None:
    # Written even when some rows are in error (and then rolled back), so that the files
    # after this one are checked against the participants as they would be.
    if not enrolments:
        return
    people = [enrolment.participant for enrolment in enrolments]
    try:
        with transaction.atomic():
            bulk.insert(people)
    except IntegrityError:
        state.report.error(PARTICIPANTS, 0, None, concurrent())
        return
    audit.record_bulk(enrolment_events(enrolments, actor=state.actor))


def _same_participant(
    state: State,
    trial: Trial,
    table: Table,
    row: Row,
    participant: Participant,
    baseline: dict[str, Any],
) -> bool:
    values = row.values
    try:
        clean = validate_baseline(trial, baseline)
    except BaselineError as error:
        state.refused(PARTICIPANTS, row.line, error)
        return False
    differing: dict[str, Any] = {}
    if participant.site.code != values["site"]:
        differing["site"] = participant.site.code
    for column in ("enrolled_on", "consent_version", "consent_date"):
        if getattr(participant, column) != values[column]:
            differing[column] = getattr(participant, column)
    for key in state.covariate_columns:
        if participant.baseline.get(key) != clean.get(key):
            differing[key] = participant.baseline.get(key)
    if state.differs(PARTICIPANTS, row, participant.study_id, differing):
        return False
    number = values["personal_number"]
    digest = personal_numbers.lookup_hash(number) if number else None
    if "personal_number" in table.columns and digest != participant.personal_number_hash:
        # Never show a stored number.
        state.report.error(
            PARTICIPANTS,
            row.line,
            "personal_number",
            _("%(study_id)s exists already with a different personal number.")
            % {"study_id": participant.study_id},
        )
        return False
    state.report.count(PARTICIPANTS, created=False)
    return True


def apply_allocations(state: State, trial: Trial) -> None:
    table = state.tables.get(ALLOCATIONS)
    if table is None:
        return
    arms = {arm.code: arm for arm in trial.arms.all()}
    existing = {
        allocation.participant_id: allocation
        for allocation in Allocation.objects.filter(trial=trial, participant__isnull=False)
        .select_related("arm")
        .order_by()
    }
    digest = state.report.digests[ALLOCATIONS][:12]
    entries: list[Imported] = []
    for row in table.rows:
        values = row.values
        study_id = values["study_id"]
        participant = state.participants.get(study_id)
        if participant is None or study_id in state.failed:
            state.unallocated.add(study_id)
            continue  # its participant row is in error already
        arm = arms.get(values["arm"])
        allocation = existing.get(participant.pk)
        if allocation is not None:
            _compare_allocation(state, table, row, allocation)
            continue
        if arm is None:
            state.unallocated.add(study_id)
            continue  # the arm's own row in arms.csv is in error
        try:
            check_made_elsewhere(participant, arm=arm, on=values["randomised_on"])
        except TrialError as error:
            state.refused(ALLOCATIONS, row.line, error, {"on": "randomised_on"})
            state.unallocated.add(study_id)
            continue
        if not entries:
            # From the first allocation on, the trial is held as randomise() holds it.
            lock_trial(trial)
        entries.append(
            Imported(
                participant,
                arm,
                values["randomised_on"],
                reference=values["reference"],
                reason=f"imported: {ALLOCATIONS} line {row.line} (sha256 {digest})",
            )
        )
    if entries:
        try:
            record_imported(trial, entries, actor=state.actor)
        except TrialError as error:
            state.report.error(ALLOCATIONS, 0, None, error.message)
        except IntegrityError:
            state.report.error(ALLOCATIONS, 0, None, concurrent())
    state.report.count(ALLOCATIONS, created=True, rows=len(entries))


def _compare_allocation(state: State, table: Table, row: Row, allocation: Allocation) -> None:
    values = row.values
    differing = {
        column: stored
        for column, stored, given in (
            ("arm", allocation.arm.code, values["arm"]),
            ("randomised_on", allocation.allocated_on, values["randomised_on"]),
            ("reference", allocation.reference, values["reference"]),
        )
        if column in table.columns and stored != given
    }
    if state.differs(ALLOCATIONS, row, values["study_id"], differing):
        state.unallocated.add(values["study_id"])
    else:
        state.report.count(ALLOCATIONS, created=False)
