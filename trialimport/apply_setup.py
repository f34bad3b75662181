"""Applying the trial and its set-up: the trial created (or locked), its arms, sites, baseline
covariates and visits through the set-up services, and finally a new trial's status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trial.models import Trial
from trial.services import TrialError
from trial.setup import services as setup
from trialimport.columns import (
    ARMS,
    COVARIATES,
    KEYS,
    PER_PARTICIPANT,
    SITES,
    STATUS_PATH,
    TRIAL,
    VISITS,
)
from trialimport.reading import Row
from trialimport.state import State


def apply_trial(state: State, row: Row | None) -> Trial | None:
    """The trial imported into (locked when the files change more than answers and
    withdrawals), or the one trial.csv creates; None when it cannot be had."""
    if state.trial is not None:
        # The trial's row lock is the one randomisation takes: held while set-up,
        # participants or allocations are written, so the hash chain and the enrolments
        # stay in order. A check writes nothing in the end, and assessments and
        # withdrawals lock their own visit or participant: those go on without it, and
        # staff can randomise meanwhile.
        locking = not state.report.dry_run and bool(set(state.files) - PER_PARTICIPANT)
        trials = Trial.objects.select_for_update() if locking else Trial.objects
        trial = trials.get(pk=state.trial.pk)
        if row is not None:
            table = state.tables[TRIAL]
            compared = table.columns - {"code"}
            state.compare(TRIAL, row, trial, trial.code, compared)
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
            actor=state.actor,
        )
    except TrialError as error:
        state.refused(TRIAL, row.line, error)
        return None
    state.report.count(TRIAL, created=True)
    return trial


def apply_setup(state: State, trial: Trial) -> None:
    """Arms, sites, covariates and visits, through the set-up services, one row at a time
    (a trial has a handful)."""
    steps: list[tuple[str, Callable[..., Any], Any]] = [
        (ARMS, setup.add_arm, trial.arms),
        (SITES, setup.add_site, trial.sites),
        (COVARIATES, setup.add_covariate, trial.covariates),
        (VISITS, setup.add_visit_definition, trial.visit_definitions),
    ]
    for name, add, related in steps:
        table = state.tables.get(name)
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
                state.compare(name, row, found, values[key], table.columns - {key}, values)
                continue
            try:
                add(trial, actor=state.actor, **values)
            except TrialError as error:
                state.refused(name, row.line, error)
            else:
                state.report.count(name, created=True)


def apply_status(state: State, trial: Trial, row: Row) -> None:
    """Move a new trial to the status its trial.csv gives."""
    for status in STATUS_PATH[Trial.Status(row.values["status"])]:
        try:
            trial = setup.change_trial_status(trial, status, actor=state.actor)
        except TrialError as error:
            state.refused(TRIAL, row.line, error)
            return
