"""Building blocks for the occupations tests: allocations, assessments with codes, a JEM."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from instruments import services
from occupations import services as occupation_services
from occupations.models import JobExposureMatrix
from randomisation.allocation import services as rs
from tests.conftest import World
from trial.models import Arm, Participant, Trial, Visit, VisitDefinition


def allocate(world: World, participant: Participant, arm_code: str) -> None:
    """An offline (manual) randomisation through the randomisation service."""
    Trial.objects.filter(pk=world.trial.pk).update(status=Trial.Status.RECRUITING)
    Participant.objects.filter(pk=participant.pk).update(
        consent_version="v1", consent_date=dt.date(2025, 3, 1)
    )
    participant.refresh_from_db()
    rs.record_manual(
        participant,
        arm=Arm.objects.get(trial=world.trial, code=arm_code),
        on=dt.date(2025, 3, 3),
        reference="envelope",
        reason="system down",
        actor=world.users["coordinator"],
    )


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
    values: dict[str, object] = {"name": "Test JEM", "version": "1", "activate": True}
    values.update(options)
    return occupation_services.import_jem(
        world.trial, content=text.encode(), actor=world.users["coordinator"], **values
    )
