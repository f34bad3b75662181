"""Building blocks for the occupations tests: assessments with codes, a JEM, and the job strain
tests' world (six participants with hand-picked occupations and a hand-built matrix)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from instruments import services
from occupations import services as occupation_services
from occupations.models import JobExposureMatrix
from tests.conftest import World
from tests.factories import allocate
from trial.models import Participant, Visit, VisitDefinition


def schedule(world: World) -> None:
    VisitDefinition.objects.create(trial=world.trial, code="m3", label="3 months", offset_months=3)
    VisitDefinition.objects.create(trial=world.trial, code="m6", label="6 months", offset_months=6)


def assess(participant: Participant, visit_code: str, code: str, **overrides: object) -> None:
    visit = Visit.objects.get(participant=participant, definition__code=visit_code)
    in_work = bool(code)
    values = {
        "assessed_on": visit.due_on,
        "in_paid_work": in_work,
        "hours_per_week": Decimal("20.0") if in_work else None,
        "occupation_code": code,
        "on_benefits": False,
    }
    values.update(overrides)
    services.record_assessment(visit, values=values, actor=None)


def import_matrix(world: World, text: str, **options: object) -> JobExposureMatrix:
    values: dict[str, Any] = {"name": "Test JEM", "version": "1", "activate": True}
    values.update(options)
    return occupation_services.import_jem(
        world.trial, content=text.encode(), actor=world.users["coordinator"], **values
    )


# The job strain tests run on this day (the follow-up of every participant is due by then).
TODAY = dt.datetime(2026, 1, 15, 10, tzinfo=dt.UTC)

# Hand-built matrix: mechanical at levels 4, 2, 1; psychosocial at levels 3, 2, 1.
MATRIX = """code,level,measure,score,measure_label
5223,4,mechanical,4,Mechanical strain
52,2,mechanical,3,Mechanical strain
7,1,mechanical,5,Mechanical strain
5,1,psychosocial,3,Psychosocial strain
911,3,psychosocial,5,Psychosocial strain
91,2,psychosocial,2,Psychosocial strain
"""

# participant → (arm, occupation at m3, occupation at m6)
JOBS = {
    ("OSLA", 0): ("A", "5223", "5223"),  # mech 4 (level 4), psy 3 (level 1); same job twice
    ("OSLA", 1): ("A", "9112", ""),  # mech none, psy 5 (level 3); not in work at m6
    ("OSLB", 0): ("A", "7411", None),  # mech 5 (level 1), psy none; m6 not assessed
    ("OSLB", 1): ("B", "5221", None),  # mech 3 (level 2), psy 3 (level 1)
    ("BGO", 0): ("B", "9122", None),  # mech none, psy 2 (level 2)
    ("BGO", 1): ("B", "4110", None),  # nothing scored at any level
}


def build(world: World) -> dict[tuple[str, int], Participant]:
    schedule(world)
    made = {}
    for (site, i), (arm, m3, m6) in JOBS.items():
        participant = world.participants[site][i]
        allocate(world, participant, arm)
        assess(participant, "m3", m3)
        if m6 is not None:
            assess(participant, "m6", m6)
        made[(site, i)] = participant
    return made
