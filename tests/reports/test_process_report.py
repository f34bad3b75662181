"""The process-evaluation report kind: dose, reach, contamination and fidelity figures."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import time_machine

from reports import pipeline
from tests.fidelity import small_trial
from tests.fidelity.small_trial import SmallTrial

CUT_OFF = dt.date(2025, 6, 30)


@pytest.fixture
def small(db: None) -> Iterator[SmallTrial]:
    with time_machine.travel(small_trial.TODAY, tick=False):
        yield small_trial.build()


def build(small: SmallTrial, tmp_path: Path, *, blinded: bool) -> pipeline.BuildResult:
    spec = pipeline.BuildSpec(
        trial=small.trial,
        kind="process",
        cut_off=CUT_OFF,
        seed=pipeline.default_seed(small.trial, "process", CUT_OFF, None),
        blinded=blinded,
        plan=None,
        ordered_by="coordinator",
    )
    return pipeline.build(spec, tmp_path)


def table(result: pipeline.BuildResult, key: str) -> pd.DataFrame:
    with zipfile.ZipFile(result.zip) as archive:
        return pd.read_csv(io.BytesIO(archive.read(f"tables/{key}.csv")))


def test_process_report_carries_the_dashboard_figures(small: SmallTrial, tmp_path: Path) -> None:
    with time_machine.travel(small_trial.TODAY, tick=False):
        result = build(small, tmp_path, blinded=False)
    # The same hand-computed figures as tests/fidelity/test_dashboards.py (period to 2025-06-30).
    dose = table(result, "dose_by_arm").set_index("arm")
    assert int(dose.loc[dose.index.str.startswith("A"), "contacts"].iloc[0]) == 6
    contamination = next(s for s in result.sections if s.key == "contamination")
    assert not contamination.problems and "control participants" in contamination.text[0]
    assert set(table(result, "contamination_by_site")["site"]) == {"S1", "S2"}
    fidelity = next(s for s in result.sections if s.key == "fidelity")
    assert fidelity.problems  # the small trial has no reviews: said, not left blank
    assert result.pdf is not None and result.pdf.read_bytes().startswith(b"%PDF")


def test_blinded_process_report_leaves_contamination_out(small: SmallTrial, tmp_path: Path) -> None:
    with time_machine.travel(small_trial.TODAY, tick=False):
        result = build(small, tmp_path, blinded=True)
    contamination = next(s for s in result.sections if s.key == "contamination")
    assert contamination.problems and not contamination.tables
    assert set(table(result, "dose_by_arm")["arm"]) == {"A", "B"}
