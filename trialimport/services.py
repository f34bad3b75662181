"""Loading a trial from documented CSV files (docs/import-formats.md).

A trial that started before this system, or a completed trial to re-analyse, arrives as a set
of CSV files: the trial, its arms, sites, baseline covariates and follow-up schedule, then
participants, the allocations made elsewhere, assessments (one column per item of the trial's
instruments) and withdrawals.

An import works in two passes:

1. **Reading** (``reading``, ``checks``, ``items``). Every file is parsed completely: the
   header (unknown or missing columns), each value's type and the model fields' own
   validators, each row's answers by its instruments' own check (``clean_answers``),
   references between the files (sites, arms, visits, study ids), duplicates within a file,
   personal numbers' check digits, and assessments dated after the participant's withdrawal.
2. **Applying** (``apply_setup``, ``apply_people``, ``apply_answers``). In one transaction,
   set-up rows go through the set-up services; participants, allocations and assessments are
   checked row by row by their services' own rules (enrolment, an allocation made elsewhere,
   data entry) against the trial as read once, then written in bulk by the bulk services
   (allocations joining the trial's hash chain with source "imported"), each object with its
   usual audit event; withdrawals go through ``withdraw_participant``. A refusal becomes an
   error on the row's line. If any row of any file is in error, or for a dry run, the
   transaction is rolled back: nothing is written unless everything is valid.

A row describing something the trial holds already with the same values is *unchanged* and is
not written again, so importing the same files twice changes nothing; the same thing with
different values is an error naming the columns that differ.

This is an app of its own, like ``privacy`` and ``demo``: it writes into ``trial``,
``randomisation`` and ``instruments``, and no app imports it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils.translation import gettext as _

from trial import audit
from trial.models import Trial
from trialimport import checks, items
from trialimport.apply_answers import apply_assessments, apply_withdrawals
from trialimport.apply_people import apply_allocations, apply_participants
from trialimport.apply_setup import apply_setup, apply_status, apply_trial
from trialimport.columns import (
    ARMS,
    COVARIATES,
    FILES,
    SITES,
    SPECS,
    VISITS,
    file_order,
)
from trialimport.reading import Row, declared_trial_code
from trialimport.report import FileCounts, ImportReport
from trialimport.state import State


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
    report = ImportReport(dry_run=dry_run)
    if progress is not None:
        # Each data row is counted or refused about once (lines less the header).
        total = sum(max(data.count(b"\n") - 1, 1) for data in files.values())
        report.on_row = lambda done: progress(min(done, total), total)
    state = State(files, actor, trial, report)
    _digests(state)
    trial_row = checks.read_trial(state)
    if state.trial is None:
        # Even when trial.csv's row is in error, the other files are checked against the
        # trial it names, if that exists.
        code = trial_row.values["code"] if trial_row else declared_trial_code(files)
        state.trial = Trial.objects.filter(code=code).first() if code else None
    if state.trial is not None:
        report.trial_code = state.trial.code
        checks.load_known(state, state.trial)
    for name in (ARMS, SITES, COVARIATES, VISITS):
        state.read(name, SPECS[name])
    state.items = items.catalogue(state.trial, new_visits=bool(state.table_keys(VISITS)))
    checks.read_participants(state)
    checks.read_allocations(state)
    checks.read_assessments(state)
    checks.read_withdrawals(state)
    if state.trial is not None or trial_row is not None:
        _apply(state, trial_row)
    report.errors.sort(key=lambda e: (file_order(e.file), e.line))
    return report


def _digests(state: State) -> None:
    """Each file's SHA-256 (for the audit trail); an unknown file is an error."""
    for name, data in state.files.items():
        if name not in FILES:
            state.report.error(
                name,
                0,
                None,
                _("Unknown file; the files are: %(names)s.") % {"names": ", ".join(FILES)},
            )
            continue
        state.report.digests[name] = hashlib.sha256(data).hexdigest()
        state.report.files[name] = FileCounts()


def _apply(state: State, trial_row: Row | None) -> None:
    report = state.report
    with transaction.atomic():
        trial = apply_trial(state, trial_row)
        if trial is not None:
            apply_setup(state, trial)
            prefetch_related_objects([trial], "covariates")
            apply_participants(state, trial)
            apply_allocations(state, trial)
            apply_assessments(state, trial)
            apply_withdrawals(state, trial)
            if trial_row is not None and state.trial is None:
                apply_status(state, trial, trial_row)
        if report.errors or report.dry_run or trial is None:
            transaction.set_rollback(True)
            return
        if report.created:
            audit.record(
                "trial.imported",
                trial,
                actor=state.actor,
                trial=trial,
                data={
                    "files": {
                        name: {
                            "sha256": report.digests[name],
                            "created": counts.created,
                            "unchanged": counts.unchanged,
                        }
                        for name, counts in report.files.items()
                    }
                },
            )
            report.written = True
