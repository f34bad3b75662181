"""What makes a report reproducible: the SHA-256 of the extracted data (canonical CSV, sorted),
the software versions, and the random seed, derived from the trial, kind, cut-off and plan
unless the options set one, so ordering the same report on the same data gives the same
numbers."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import platform

import pandas as pd

from reports import extract
from reports.analysis.results import EffectData
from reports.models import AnalysisPlan
from trial.models import Trial

SOFTWARE = [
    "django",
    "pandas",
    "numpy",
    "scipy",
    "statsmodels",
    "weasyprint",
    "matplotlib",
    "worktrials",
]
# Labels of the columns that are not variables of the trial's instruments (those are labelled


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in SOFTWARE:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def canonical_csv(frame: pd.DataFrame) -> bytes:
    """The frame as CSV with columns and rows in a fixed order, all values as text."""
    text = frame.reindex(sorted(frame.columns), axis=1).astype(str)
    if len(text.columns):
        text = text.sort_values(list(text.columns), kind="mergesort")
    return text.to_csv(index=False, lineterminator="\n").encode()


def snapshot_hash(frames: dict[str, pd.DataFrame]) -> str:
    """SHA-256 over the canonical CSV bytes of the data frames, in name order."""
    digest = hashlib.sha256()
    for name in sorted(frames):
        digest.update(f"== {name}\n".encode())
        digest.update(canonical_csv(frames[name]))
    return digest.hexdigest()


def effect_data_hash(data: EffectData, spells: pd.DataFrame | None = None) -> str:
    """The snapshot hash of the data a report analyses (recorded with every report): the
    participants, answers, missed visits, exposure and time to work, and the register spells
    as they stood at the cut-off (``extract.register_spells``) when the trial has any, since
    register endpoints are analysed from them."""
    frames = {
        "participants": data.participants,
        "outcomes": data.outcomes,
        "missed_visits": data.missed,
        "exposure": data.exposure,
        "time_to_work": data.time_to_work,
    }
    if spells is not None and not spells.empty:
        frames["register_spells"] = spells
    return snapshot_hash(frames)


def data_snapshot(trial: Trial, cut_off: dt.date) -> str:
    """The snapshot hash of the trial's data at ``cut_off``, as a report would record it."""
    return effect_data_hash(
        extract.effect_data(trial, cut_off), extract.register_spells(trial, cut_off)
    )


def default_seed(trial: Trial, kind: str, cut_off: dt.date, plan: AnalysisPlan | None) -> int:
    """A seed that depends only on what the report is about, so a repeat gives the same."""
    plan_part = "no-plan" if plan is None else (plan.content_hash or f"draft-{plan.version}")
    text = f"{trial.code}|{kind}|{cut_off.isoformat()}|{plan_part}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") >> 1
