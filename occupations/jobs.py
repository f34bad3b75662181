"""The jobs participants reached, as a data frame: the one place job strain reads the ORM.

Sources: completed follow-up assessments in paid work with an occupation code, and work spells
with an occupation code when the ``pathways`` app records them. Only randomised participants
count (they have an arm). One row per participant and distinct occupation code: reaching the
same occupation at several assessments, or in an assessment and a spell, is one job.
"""

from __future__ import annotations

import pandas as pd
from django.apps import apps

from randomisation.models import Allocation
from trial.models import Assessment, Trial

COLUMNS = ["participant_id", "arm_code", "arm_name", "code", "source", "on"]


def _assessment_jobs(trial: Trial) -> pd.DataFrame:
    rows = (
        Assessment.objects.filter(
            visit__participant__trial=trial,
            visit__completed_on__isnull=False,
            in_paid_work=True,
        )
        .exclude(occupation_code="")
        .values_list("visit__participant_id", "occupation_code", "assessed_on")
    )
    frame = pd.DataFrame(list(rows), columns=["participant_id", "code", "on"])
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
