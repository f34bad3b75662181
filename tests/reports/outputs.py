"""Reading what a report build wrote (its PDF's text, its zip's tables) and the build
specification the report tests order, shared by the report test modules."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import pandas as pd

from reports import pipeline
from reports.models import AnalysisPlan
from tests.conftest import poppler
from tests.reports.conftest import CUT_OFF, ReportWorld


def spec_for(
    rw: ReportWorld, plan: AnalysisPlan | None, *, blinded: bool = False, kind: str = "effect"
) -> pipeline.BuildSpec:
    return pipeline.BuildSpec(
        trial=rw.trial,
        kind=kind,
        cut_off=CUT_OFF,
        seed=pipeline.default_seed(rw.trial, kind, CUT_OFF, plan),
        blinded=blinded,
        plan=plan,
        ordered_by="statistician",
    )


def pdf_text(path: Path | None) -> str:
    """The PDF's text, by poppler's pdftotext."""
    assert path is not None
    done = subprocess.run(
        [poppler("pdftotext"), "-layout", str(path), "-"], capture_output=True, check=True
    )
    return done.stdout.decode()


def zip_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def table(members: dict[str, bytes], key: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(members[f"tables/{key}.csv"]))
