"""Synthetic register spells for the demo trial.

Each randomised participant gets up to 24 months of spells from a simple monthly model: people
start on work assessment allowance (AAP), in health care or with no registered state; each month
some move into work (twice as often in the intervention arm), some leave work again for AAP
(the revolving door), a few start education or move to disability benefit. Short health-care
spells overlap the rest now and then. Each participant has a generator of their own, seeded by
their study id, so the rest of the demo draws the same numbers with or without pathways.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from pathways import services
from pathways.models import Spell, SpellState
from randomisation.models import Allocation
from trial.models import Participant, Trial

MONTHS = 24
OCCUPATIONS = ["5223", "9112", "4110", "5120", "7411"]
SOURCES = {
    "work": "A-ordningen",
    "education": "NUDB",
    "aap": "FD-Trygd",
    "disability": "FD-Trygd",
    "health": "KPR",
}


def prepare(trial: Trial, actor: Any) -> None:
    """Give the demo trial the standard state alphabet and 24 months of follow-up."""
    services.add_standard_alphabet(trial, actor=actor)
    services.update_settings(trial, actor=actor, follow_up_months=MONTHS)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _next_state(state: str, intervention: bool, rng: random.Random) -> str:
    draw = rng.random()
    if state == "work":
        return "aap" if draw < 0.07 else "work"
    if state == "disability":
        return "disability"
    if state == "education":
        return "" if draw < 0.05 else "work" if draw < 0.08 else "education"
    to_work = 0.075 if intervention else 0.035
    if draw < to_work:
        return "work"
    if draw < to_work + 0.015:
        return "education"
    if draw < to_work + 0.022 and state == "aap":
        return "disability"
    if state == "" and draw > 0.9:
        return "aap"
    return state


def seed_spells(participant: Participant, as_of: dt.date) -> int:
    """Write a randomised participant's synthetic spells up to ``as_of``; returns how many.

    Does nothing for a participant not randomised or randomised after ``as_of``.
    """
    start = participant.randomised_on
    if start is None or start > as_of:
        return 0
    allocation = Allocation.objects.filter(participant=participant).select_related("arm").first()
    intervention = allocation is not None and not allocation.arm.is_control
    rng = random.Random(f"pathways-{participant.study_id}")  # noqa: S311 - synthetic data
    states = {s.code: s for s in SpellState.objects.filter(trial=participant.trial)}
    benefit = participant.baseline.get("benefit_type", "")
    state = "aap" if benefit == "work_assessment_allowance" or rng.random() < 0.3 else ""
    monthly = []
    for _month in range(MONTHS):
        monthly.append(state)
        state = _next_state(state, intervention, rng)
    # Runs of equal months become spells; a spell starts and ends on a day inside its months.
    spells = []
    month = 0
    while month < MONTHS:
        code = monthly[month]
        length = 1
        while month + length < MONTHS and monthly[month + length] == code:
            length += 1
        first = _add_months(start.replace(day=1), month)
        if month == 0:  # going on already at randomisation
            begins = start - dt.timedelta(days=rng.randint(30, 400))
        else:
            begins = first + dt.timedelta(days=rng.randint(0, 5))
        ends = _add_months(first, length) - dt.timedelta(days=1 + rng.randint(0, 3))
        if code and begins <= as_of:
            open_ended = month + length >= MONTHS or ends >= as_of
            spells.append(
                Spell(
                    trial=participant.trial,
                    participant=participant,
                    state=states[code],
                    starts_on=begins,
                    ends_on=None if open_ended else ends,
                    source=SOURCES[code],
                    detail=rng.choice(OCCUPATIONS) if code == "work" else "",
                )
            )
        month += length
    for _ in range(rng.choice([0, 0, 1, 2])):  # short stays in health care
        begins = start + dt.timedelta(days=rng.randint(0, MONTHS * 30))
        if begins <= as_of:
            spells.append(
                Spell(
                    trial=participant.trial,
                    participant=participant,
                    state=states["health"],
                    starts_on=begins,
                    ends_on=min(begins + dt.timedelta(days=rng.randint(5, 60)), as_of),
                    source=SOURCES["health"],
                )
            )
    Spell.objects.bulk_create(spells, ignore_conflicts=True)
    services.bump_version(participant.trial)
    return len(spells)
