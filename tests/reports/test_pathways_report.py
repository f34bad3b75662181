"""The pathways report kind: register spells → monthly sequences → sequence analysis by arm."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

from reports import pipeline
from tests.conftest import World
from tests.pathways.helpers import csv_bytes, import_file, make_scene

CUT_OFF = dt.date(2025, 9, 30)  # months 1–7 observed (March–September 2025)


def spec(world: World) -> pipeline.BuildSpec:
    return pipeline.BuildSpec(
        trial=world.trial,
        kind="pathways",
        cut_off=CUT_OFF,
        seed=pipeline.default_seed(world.trial, "pathways", CUT_OFF, None),
        blinded=False,
        plan=None,
        ordered_by="coordinator",
    )


def test_pathways_report_counts_months_by_arm(world: World, tmp_path: Path) -> None:
    scene = make_scene(world)
    import_file(
        scene,
        csv_bytes(
            [
                # a (arm A): AAP March–April, then work from May: 2 + 5 months
                [scene.a.study_id, "aap", "2025-03-01", "2025-04-30", "", ""],
                [scene.a.study_id, "work", "2025-05-01", "", "", ""],
                # c (arm A): work throughout
                [scene.c.study_id, "work", "2025-03-01", "", "", ""],
                # b (arm B): AAP throughout; d (arm B): nothing registered
                [scene.b.study_id, "aap", "2025-03-01", "", "", ""],
            ]
        ),
    )
    result = pipeline.build(spec(world), tmp_path)
    keys = [section.key for section in result.sections]
    assert "flow" in keys and not any(section.problems for section in result.sections[:1])
    with zipfile.ZipFile(result.zip) as archive:
        names = archive.namelist()
        mean_time = next(n for n in names if n.startswith("tables/") and "mean_time" in n)
        table = archive.read(mean_time).decode()
    # Arm A: a has 5 work months, c 7 → mean 6.0 months in work; arm B: 0 work months.
    rows = [line.split(",") for line in table.splitlines()]
    header = rows[0]
    work_mean = {
        row[header.index("arm")]: float(row[header.index("mean")])
        for row in rows[1:]
        if "Work" in row
    }
    assert work_mean["A: Intervention"] == 6.0
    assert work_mean["B: Usual services"] == 0.0
    # b: AAP all 7 observed months; d: nothing registered → 7 months "no registered state".
    aap = [row for row in rows[1:] if row[0] == "B: Usual services" and "allowance" in row[1]]
    assert float(aap[0][header.index("mean")]) == 3.5
    assert result.pdf is not None and result.pdf.read_bytes().startswith(b"%PDF")


def test_pathways_report_without_spells_says_why(world: World, tmp_path: Path) -> None:
    make_scene(world)
    result = pipeline.build(spec(world), tmp_path)
    section = next(s for s in result.sections if s.key == "pathways")
    assert "No monthly register states could be built" in section.problems[0]
