"""Building blocks for the instrument set-up tests (pages and API): item definitions, visit
definitions and answers made directly."""

from __future__ import annotations

import datetime as dt
from typing import Any

from instruments.models import Assessment, Instrument
from tests.conftest import World
from trial.models import Visit, VisitDefinition


def item(name: str, kind: str = "integer", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "label": {"en": name.title(), "nb": ""}, **extra}


def scored(name: str) -> dict[str, Any]:
    return item(name, "integer", min="0", max="3")


def visit_definition(world: World, code: str = "m0", offset: int = 0) -> VisitDefinition:
    return VisitDefinition.objects.create(
        trial=world.trial, code=code, label=f"Month {offset}", offset_months=offset
    )


def answer(world: World, instrument: Instrument, definition: VisitDefinition) -> Assessment:
    """An assessment of the instrument's current version, made directly (the entry pages are
    not this module's)."""
    participant = world.participants["OSLA"][0]
    visit = Visit.objects.create(
        participant=participant,
        definition=definition,
        due_on=dt.date(2025, 3, 1),
        window_start=dt.date(2025, 2, 15),
        window_end=dt.date(2025, 3, 31),
    )
    return Assessment.objects.create(
        visit=visit,
        instrument=instrument,
        version=instrument.current_version(),
        assessed_on=dt.date(2025, 3, 1),
        values={"in_school": False, "mood": 2},
    )
