"""The jobs participants reached, as a data frame: the one place job strain reads the ORM.

Sources: answers to any occupation item (type ``occupation``, STYRK-08) of the trial's
instruments, e.g. the built-in "Employment and benefits" instrument's ``occupation_code``, which
is asked only in paid work; and work spells with an occupation code when the ``pathways`` app
records them. Only randomised participants
count (they have an arm). One row per participant and distinct occupation code: reaching the
same occupation at several assessments, or in an assessment and a spell, is one job.
"""

from __future__ import annotations

import pandas as pd
from django.apps import apps

from instruments.definition import Definition, ItemType
from instruments.models import Assessment, InstrumentVersion
from randomisation.models import Allocation
from trial.models import Trial

COLUMNS = ["participant_id", "arm_code", "arm_name", "code", "source", "on"]


def _occupation_items(trial: Trial) -> list[tuple[int, str]]:
    """(instrument id, variable) of every occupation item in any version of the trial's
    instruments."""
    found: set[tuple[int, str]] = set()
    versions = InstrumentVersion.objects.filter(instrument__trial=trial).values_list(
        "instrument_id", "definition"
    )
    for instrument_id, definition in versions:
        for item in Definition.from_json(definition).items:
            if item.type == ItemType.OCCUPATION:
                found.add((instrument_id, item.name))
    return sorted(found)


def _assessment_jobs(trial: Trial) -> pd.DataFrame:
    """Answered occupation items: an item is stored only when it was shown (in paid work)."""
    rows: list[tuple[int, str, object]] = []
    for instrument_id, name in _occupation_items(trial):
        answered = (
            Assessment.objects.filter(visit__participant__trial=trial, instrument_id=instrument_id)
            .filter(values__has_key=name)
            .values_list("visit__participant_id", "values", "assessed_on")
        )
        rows.extend(
            (participant_id, str(values[name]), assessed_on)
            for participant_id, values, assessed_on in answered
            if str(values.get(name) or "").strip()
        )
    frame = pd.DataFrame(rows, columns=["participant_id", "code", "on"])
    frame["source"] = "assessment"
    return frame


def _spell_jobs(trial: Trial) -> pd.DataFrame:
    """Spells in a state whose detail is an occupation code (``pathways``), if installed.

    In ``pathways`` a state of the trial's alphabet may carry a STYRK-08 code as its spells'
    ``detail`` (``SpellState.detail == "occupation"``, e.g. the state ``work``).
    """
    empty = pd.DataFrame(columns=["participant_id", "code", "on", "source"])
    if not apps.is_installed("pathways"):
        return empty
    try:
        spell_model = apps.get_model("pathways", "Spell")
    except LookupError:
        return empty
    rows = (
        spell_model.objects.filter(trial=trial, state__detail="occupation")
        .exclude(detail="")
        .values_list("participant_id", "detail", "starts_on")
    )
    frame = pd.DataFrame(list(rows), columns=["participant_id", "code", "on"])
    frame["source"] = "work_spell"
    return frame


def jobs_reached(trial: Trial) -> pd.DataFrame:
    """One row per randomised participant and distinct occupation reached, earliest first.

    Columns: participant_id, arm_code, arm_name, code, source (where it was first seen:
    ``assessment`` or ``work_spell``), on (the date it was first seen).
    """
    frames = [f for f in (_assessment_jobs(trial), _spell_jobs(trial)) if len(f)]
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    jobs = pd.concat(frames, ignore_index=True)
    jobs["code"] = jobs["code"].astype(str).str.strip()
    jobs = jobs.sort_values(["participant_id", "code", "on"]).drop_duplicates(
        ["participant_id", "code"], keep="first"
    )
    arms = pd.DataFrame(
        list(
            Allocation.objects.filter(trial=trial, participant__isnull=False).values_list(
                "participant_id", "arm__code", "arm__name"
            )
        ),
        columns=["participant_id", "arm_code", "arm_name"],
    )
    jobs = jobs.merge(arms, on="participant_id", how="inner")
    return jobs[COLUMNS].reset_index(drop=True)
