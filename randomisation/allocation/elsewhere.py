"""Allocations made outside the system: their rules, and many of them recorded at once (the
import of a trial from an earlier system, ``trialimport``). One allocation made by hand is
``services.record_manual``, which uses the same rules and events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from randomisation.allocation.log import append_many
from randomisation.allocation.models import Allocation
from randomisation.schemes.services import lock_trial
from trial import audit, bulk
from trial.models import Arm, AuditEvent, Participant, Trial
from trial.services import TrialError, schedule_visits


def check_made_elsewhere(participant: Participant, *, arm: Arm, on: dt.date) -> None:
    """The rules of an allocation made outside the system, given by its arm and date: an arm
    of the participant's trial, a date neither in the future nor before enrolment. Raises
    TrialError; reads nothing."""
    if arm.trial_id != participant.trial_id:
        raise TrialError(_("That arm belongs to another trial."), field="arm")
    if on > timezone.localdate():
        raise TrialError(_("The date cannot be in the future."), field="on")
    if on < participant.enrolled_on:
        raise TrialError(_("The date cannot be before enrolment."), field="on")


def randomised_event(
    participant: Participant,
    allocation: Allocation,
    before: dict[str, Any],
    actor: User | None,
) -> AuditEvent:
    """The ``participant.randomised`` event of an allocation (unsaved): ``before`` is the
    participant's snapshot before its randomisation date was set."""
    return audit.build(
        "participant.randomised",
        participant,
        actor=actor,
        data={
            "sequence": allocation.sequence,
            "arm": allocation.arm.code,
            "source": allocation.source,
            "changes": audit.changes(before, audit.snapshot(participant)),
        },
    )


@dataclass(frozen=True)
class Imported:
    """One allocation made in an earlier system, checked by :func:`check_made_elsewhere`."""

    participant: Participant
    arm: Arm
    on: dt.date
    reference: str
    reason: str


def record_imported(
    trial: Trial, entries: list[Imported], *, actor: User | None
) -> list[Allocation]:
    """Record allocations made in an earlier system, in the given order, as ``record_manual``
    does with source "imported" one by one: each appended to the trial's chain (one insert,
    witnessed at the new head), each participant's randomisation date set and follow-up visits
    scheduled, one ``participant.randomised`` event each. Locks the participants, then the
    trial (randomise()'s order), inside the caller's transaction.

    The caller has checked each entry (:func:`check_made_elsewhere`) and that none had an
    allocation when it looked; one made since is refused here: TrialError naming its study id,
    nothing written. Not safe to repeat (a second call is refused that way)."""
    if not entries:
        return []
    ids = [entry.participant.pk for entry in entries]
    with transaction.atomic():
        if connection.features.has_select_for_update:
            list(Participant.objects.filter(pk__in=ids).select_for_update().values_list("pk"))
        locked_trial = lock_trial(trial)
        taken = set(
            Allocation.objects.filter(participant__in=ids).values_list("participant_id", flat=True)
        )
        for entry in entries:
            if entry.participant.pk in taken:
                raise TrialError(
                    _("%(study_id)s already has an allocation.")
                    % {"study_id": entry.participant.study_id}
                )
        allocations = append_many(
            locked_trial,
            [
                {
                    "scheme": None,
                    "participant": entry.participant,
                    "stratum": "",
                    "arm": entry.arm,
                    "allocated_on": entry.on,
                    "source": Allocation.Source.IMPORTED,
                    "reference": entry.reference.strip(),
                    "reason": entry.reason.strip(),
                }
                for entry in entries
            ],
            actor=actor,
        )
        _after_import(trial, entries, allocations, actor)
    return allocations


def _after_import(
    trial: Trial, entries: list[Imported], allocations: list[Allocation], actor: User | None
) -> None:
    """Randomisation dates, visits and events of imported allocations (in bulk)."""
    events = []
    people = []
    for entry, allocation in zip(entries, allocations, strict=True):
        participant = entry.participant
        before = audit.snapshot(participant)
        participant.randomised_on = allocation.allocated_on
        people.append(participant)
        events.append(randomised_event(participant, allocation, before, actor))
    bulk.set_column(Participant, "randomised_on", {p.pk: p.randomised_on for p in people})
    schedule_visits(trial, [(p, p.randomised_on) for p in people if p.randomised_on])
    audit.record_bulk(events)
