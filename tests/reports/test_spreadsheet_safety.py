"""Every CSV in a report ZIP is safe to open in a spreadsheet: a text cell that starts like a
formula (``=``, ``+``, ``-``, ``@``, tab, carriage return) is prefixed with an apostrophe;
numbers, negative ones included, stay numbers (``trial.text.spreadsheet_cell``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import time_machine

from fidelity.models import Adaptation, Component
from reports import pipeline, render
from reports.analysis.results import Table
from tests.fidelity import small_trial
from tests.fidelity.small_trial import SmallTrial
from trial.models import Arm, Site
from trial.text import FORMULA_START, PLAIN_NUMBER, spreadsheet_cell

CUT_OFF = dt.date(2025, 6, 30)
PLANTED = ["=cmd|' /C calc'!A0", "+SUM(1+1)", "-2+3", "@SUM(A1)", "\tTabbed", "\rReturned"]


def runnable(cell: str) -> bool:
    """Would a spreadsheet run this cell as a formula?"""
    return cell.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(cell)


def csv_cells(archive: zipfile.ZipFile) -> Iterator[tuple[str, str]]:
    for name in archive.namelist():
        if name.endswith(".csv"):
            text = archive.read(name).decode()
            for row in csv.reader(io.StringIO(text, newline="")):
                for cell in row:
                    yield name, cell


@pytest.fixture
def planted(db: None) -> Iterator[SmallTrial]:
    """The small trial, with formulas in every text a coordinator types that reaches a report."""
    with time_machine.travel(small_trial.TODAY, tick=False):
        small = small_trial.build()
        trial = small.trial
        Arm.objects.filter(trial=trial, code="A").update(name="@Intervention")
        Component.objects.filter(trial=trial, code="rapid").update(name="+Rapid job search")
        Site.objects.filter(trial=trial, code="S1").update(name='=HYPERLINK("x")')
        for day, text in enumerate(PLANTED, start=1):
            Adaptation.objects.create(
                trial=trial,
                site=small.sites["S1"],
                adapted_on=dt.date(2025, 5, day),
                component=small.components["rapid"],
                description=text,
                recorded_by=small.coordinator,
                recorded_by_name="coordinator",
            )
        yield small


@pytest.mark.parametrize("kind", ["process", "data"])
def test_every_csv_of_a_report_zip_is_neutralised(
    planted: SmallTrial, tmp_path: Path, kind: str
) -> None:
    spec = pipeline.BuildSpec(
        trial=planted.trial,
        kind=kind,
        cut_off=CUT_OFF,
        seed=pipeline.default_seed(planted.trial, kind, CUT_OFF, None),
        blinded=False,
        plan=None,
        ordered_by="coordinator",
    )
    with time_machine.travel(small_trial.TODAY, tick=False):
        result = pipeline.build(spec, tmp_path)
    with zipfile.ZipFile(result.zip) as archive:
        cells = list(csv_cells(archive))
        assert cells
        assert [(name, cell) for name, cell in cells if runnable(cell)] == []
        if kind == "process":
            text = archive.read("tables/adaptations.csv").decode()
            for planted_text in PLANTED:
                assert "'" + planted_text in text
            assert "'+Rapid job search" in text and ",+Rapid" not in text


def test_text_cells_and_names_are_neutralised_and_numbers_stay_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "site": ["S1", "=1+1", "-S2", None],
            "note": pd.Series(["@x", "-1.5", "-1e3", "fine"], dtype="string"),
            "kind": pd.Categorical(["+a", "b", "+a", "b"]),
            "difference": [-1.5, 2.0, -0.25, float("nan")],
            "count": [-3, 0, 4, 5],
            "mixed": ["-x", -7, "=y", 1.5],
            "=name": [1, 2, 3, 4],
        }
    )
    path = tmp_path / "report.zip"
    table = Table("results", "Results", frame)
    render.write_zip(
        path, data_sets={"analysis": frame}, labels={}, tables=[table], meta={}, readme=""
    )
    with zipfile.ZipFile(path) as archive:
        for member in ("analysis.csv", "tables/results.csv"):
            rows = list(csv.reader(io.StringIO(archive.read(member).decode(), newline="")))
            assert rows == [
                ["site", "note", "kind", "difference", "count", "mixed", "'=name"],
                ["S1", "'@x", "'+a", "-1.5", "-3", "'-x", "1"],
                ["'=1+1", "-1.5", "b", "2.0", "0", "-7", "2"],
                ["'-S2", "-1e3", "'+a", "-0.25", "4", "'=y", "3"],
                ["", "fine", "b", "", "5", "1.5", "4"],
            ]
        # The Stata file keeps the values as they are: it is no spreadsheet.
        data = pd.read_stata(io.BytesIO(archive.read("analysis.dta")))
        assert list(data["site"])[:3] == ["S1", "=1+1", "-S2"]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+47 22 00 00 00", "'+47 22 00 00 00"),
        ("-", "'-"),
        ("@user", "'@user"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-12", "-12"),
        ("-0.5", "-0.5"),
        ("+3", "+3"),
        ("1e-3", "1e-3"),
        ("a=b", "a=b"),
        # Apostrophes before a formula sign get one more, so one can always be taken off.
        ("'=1+1", "''=1+1"),
        ("''-x", "'''-x"),
        ("'-12", "''-12"),
        ("'quoted", "'quoted"),
        ("'", "'"),
        ("", ""),
        (-4, -4),
        (None, None),
    ],
)
def test_spreadsheet_cell(value: object, written: object) -> None:
    assert spreadsheet_cell(value) == written
