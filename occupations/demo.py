"""The illustrative JEM the demo trial uses. Made-up scores: not for research use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from occupations import services
from occupations.models import JobExposureMatrix
from trial.models import Trial

ILLUSTRATIVE_FILE = Path(__file__).resolve().parent / "data" / "illustrative_jem.csv"
ILLUSTRATIVE_NAME = "Illustrative JEM — not for research use"


def load_illustrative_jem(trial: Trial, actor: Any) -> JobExposureMatrix:
    """Import the shipped illustrative matrix (1- and 2-digit groups) and put it in use."""
    return services.import_jem(
        trial,
        content=ILLUSTRATIVE_FILE.read_bytes(),
        name=ILLUSTRATIVE_NAME,
        version="demo-1",
        source=(
            "Made up for the demo by the worktrials developers (occupations/data/README.md). "
            "Scores on a 1 (low) to 5 (high) scale at STYRK-08 major and sub-major group level."
        ),
        licence="CC0 1.0",
        illustrative=True,
        activate=True,
        actor=actor,
    )
