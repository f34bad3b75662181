"""Builders for the import tests: a trial import run as the data manager, its errors by place,
three participants imported with their allocations, and the answers an import recorded."""

from __future__ import annotations

from typing import Any

from instruments.models import Assessment
from tests.conftest import World
from trialimport import services as importing
from trialimport.report import ImportReport

PARTICIPANTS = {
    "participants.csv": (
        "study_id,site,enrolled_on,consent_version,consent_date\n"
        "P-1,OSLA,2024-01-10,v1,2024-01-10\n"
        "P-2,OSLA,2024-01-11,v1,2024-01-11\n"
        "P-3,BGO,2024-01-12,v1,2024-01-12\n"
    ),
    "allocations.csv": (
        "study_id,arm,randomised_on\nP-1,A,2024-01-15\nP-2,B,2024-01-15\nP-3,A,2024-01-16\n"
    ),
}


def run(world: World, files: dict[str, str], **options: Any) -> ImportReport:
    return importing.import_trial(
        {name: text.encode() for name, text in files.items()},
        actor=world.users["datamanager"],
        trial=world.trial,
        **options,
    )


def import_participants(world: World) -> World:
    """Import P-1 and P-2 at site OSLA and P-3 at BGO, with their allocations (arms A, B, A)."""
    report = run(world, PARTICIPANTS)
    assert report.written, [str(e) for e in report.errors]
    return world


def answers(study_id: str, code: str = "work") -> Assessment:
    return Assessment.objects.get(visit__participant__study_id=study_id, instrument__code=code)


def where(report: ImportReport) -> dict[tuple[str, int, str], str]:
    return {(e.file, e.line, e.column): e.message for e in report.errors}
