"""A small trial ready for register spells: the standard alphabet and randomised participants."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

from pathways import importing, services
from pathways.models import SpellImport
from tests.conftest import World
from tests.factories import allocate
from trial.models import Participant

RANDOMISED_ON = dt.date(2025, 3, 3)  # month 1 = 3–31 March 2025; month 24 ends 2027-02-28
HEADER = ["study_id", "state", "start_date", "end_date", "source", "detail"]


@dataclass
class Scene:
    world: World
    a: Participant  # OSLA, arm A
    b: Participant  # OSLA, arm B
    c: Participant  # OSLB, arm A
    d: Participant  # BGO, arm B
    unrandomised: Participant  # BGO, enrolled 2025-03-01, not randomised


def make_scene(world: World) -> Scene:
    services.add_standard_alphabet(world.trial, actor=world.users["coordinator"])
    p = world.participants
    pairs = [(p["OSLA"][0], "A"), (p["OSLA"][1], "B"), (p["OSLB"][0], "A"), (p["BGO"][0], "B")]
    for participant, arm in pairs:
        allocate(world, participant, arm)
    a, b, c, d = (participant for participant, _ in pairs)
    return Scene(world, a, b, c, d, p["BGO"][1])


def csv_bytes(rows: list[list[str]], header: list[str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header or HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


def check(scene: Scene, data: bytes, name: str = "spells.csv") -> SpellImport:
    spell_import = importing.create_import(
        scene.world.trial,
        data=data,
        file_name=name,
        default_source="FD-Trygd",
        actor=scene.world.users["datamanager"],
        keep_file=False,
    )
    importing.check_import(spell_import, data)
    spell_import.refresh_from_db()
    return spell_import


def import_file(scene: Scene, data: bytes, *, skip_invalid: bool = False) -> SpellImport:
    spell_import = check(scene, data)
    importing.confirm_import(
        spell_import, skip_invalid=skip_invalid, actor=scene.world.users["datamanager"]
    )
    assert importing.execute_apply(spell_import.pk) == SpellImport.Status.DONE
    spell_import.refresh_from_db()
    return spell_import
