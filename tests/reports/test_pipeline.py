"""The pipeline run synchronously: extraction, the files, reproducibility, blinding, bad input."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command

from instruments.models import Assessment
from reports import extract, pipeline, services
from tests import factories
from tests.reports.conftest import CUT_OFF, ReportWorld, lock_plan
from tests.reports.outputs import pdf_text, spec_for, table, zip_members

# Eleven digits standing alone: not a run of digits inside a hexadecimal hash, which a
# SHA-256 in report.json holds about one time in four.
PERSONAL_NUMBER = re.compile(rb"(?<![0-9A-Za-z])\d{11}(?![0-9A-Za-z])")


def test_extraction_reads_each_table_in_one_query(
    rworld: ReportWorld, django_assert_max_num_queries: object
) -> None:
    # One query per table, plus the data dictionary's (instruments, their versions, the visit
    # schedule and which instruments each visit asks) and the old assessment table's.
    with django_assert_max_num_queries(12):  # type: ignore[operator]
        data = extract.effect_data(rworld.trial, CUT_OFF)
    people = data.participants.set_index("study_id")
    assert len(people) == 12
    assert people.loc["R00", "arm"] == "A" and people.loc["R06", "arm"] == "B"
    assert bool(people.loc["R06", "is_control"]) and not bool(people.loc["R00", "is_control"])
    assert people.loc["R01", "sex"] == "female" and people.loc["R01", "age"] == 21
    m12 = data.outcomes[data.outcomes["visit"] == "m12"]
    assert len(m12) == 11
    assert m12.groupby(m12["study_id"].str[:3].map(lambda s: "A" if s < "R06" else "B"))[
        "in_paid_work"
    ].sum().to_dict() == {"A": 4, "B": 2}
    assert data.missed.to_dict("records") == [
        {"study_id": "R11", "visit": "m12", "due_on": data.missed["due_on"][0], "reason": "missed"}
    ]
    # Time to first work: R01 worked at m6 (184 days after randomisation = 6.05 months).
    ttw = data.time_to_work.set_index("study_id")
    assert ttw.loc["R01", "event"] and ttw.loc["R01", "months"] == pytest.approx(184 / 30.4375)
    assert not ttw.loc["R04", "event"]
    assert list(data.exposure.columns) == ["study_id", "exposed", "first_exposed_on", "contacted"]


def test_cut_off_leaves_out_later_data(rworld: ReportWorld) -> None:
    import datetime as dt

    data = extract.effect_data(rworld.trial, dt.date(2024, 12, 31))
    assert set(data.outcomes["visit"]) == {"m6"}
    reasons = data.missed.groupby("reason").size().to_dict()
    assert reasons == {"missed": 1, "not yet due": 11}  # m12 window (due 2025-01-10) still open


def test_effect_report_writes_pdf_and_zip(rworld: ReportWorld, tmp_path: Path) -> None:
    plan = lock_plan(rworld)
    result = pipeline.build(spec_for(rworld, plan), tmp_path)
    assert result.pdf is not None and result.pdf.read_bytes().startswith(b"%PDF")
    members = zip_members(result.zip)
    for name in ("participants", "outcomes", "missed_visits", "time_to_work", "exposure"):
        assert f"{name}.csv" in members and f"{name}.dta" in members
    assert {"data_dictionary.csv", "report.json", "README.txt", "tables/flow.csv"} <= set(members)
    assert all(f"tables/{t.key}.csv" in members for t in result.tables)
    stata = pd.read_stata(io.BytesIO(members["outcomes.dta"]), convert_categoricals=False)
    assert len(stata) == 23 and stata["in_paid_work"].sum() == 4 + 1 + 2 + 1
    assert str(stata["assessed_on"].dtype).startswith("datetime64")
    people = pd.read_stata(io.BytesIO(members["participants.dta"]))
    assert sorted(people["study_id"]) == [f"R{i:02d}" for i in range(12)]
    assert all(len(c) <= 32 for c in people.columns)
    dictionary = pd.read_csv(io.BytesIO(members["data_dictionary.csv"]))
    assert {"data_set", "column", "type", "label", "values"} <= set(dictionary.columns)
    row = dictionary[
        (dictionary["data_set"] == "outcomes") & (dictionary["column"] == "in_paid_work")
    ]
    assert row["type"].item() == "boolean" and row["label"].item() == "In paid work"
    # Flow: hand-counted from the fixture.
    flow = (
        table(members, "flow").set_index("Unnamed: 0")
        if "Unnamed: 0" in table(members, "flow")
        else table(members, "flow").set_index(table(members, "flow").columns[0])
    )
    assert flow.loc["Randomised"].tolist() == [6, 6, 12]
    assert flow.loc["Assessed at m12"].tolist() == [6, 5, 11]
    assert flow.loc["Not assessed at m12: missed"].tolist() == [0, 1, 1]


def test_no_personal_numbers_anywhere_in_the_zip(rworld: ReportWorld, tmp_path: Path) -> None:
    result = pipeline.build(spec_for(rworld, lock_plan(rworld)), tmp_path)
    for name, content in zip_members(result.zip).items():
        assert not PERSONAL_NUMBER.search(content), name


def test_same_data_gives_the_same_numbers_and_hash(rworld: ReportWorld, tmp_path: Path) -> None:
    plan = lock_plan(rworld)
    first = pipeline.build(spec_for(rworld, plan), tmp_path / "one")
    second = pipeline.build(spec_for(rworld, plan), tmp_path / "two")
    assert first.snapshot_hash == second.snapshot_hash
    a, b = zip_members(first.zip), zip_members(second.zip)
    tables = sorted(n for n in a if n.startswith("tables/"))
    assert len(tables) > 3
    assert tables == sorted(n for n in b if n.startswith("tables/"))
    assert all(a[n] == b[n] for n in tables)
    # A changed assessment changes the hash.
    factories.change_answers(
        Assessment.objects.filter(
            visit__participant__study_id="R04", visit__definition__code="m12"
        ),
        self_rated_health=5,
    )
    third = pipeline.build(spec_for(rworld, plan), tmp_path / "three")
    assert third.snapshot_hash != first.snapshot_hash


def test_blinded_report_shows_codes_only(rworld: ReportWorld, tmp_path: Path) -> None:
    plan = services.save_plan_draft(
        rworld.trial, values=PLAN_VALUES(), actor=rworld.world.users["statistician"]
    )
    result = pipeline.build(spec_for(rworld, plan, blinded=True), tmp_path)
    members = zip_members(result.zip)
    assert "exposure.csv" not in members
    participants = pd.read_csv(io.BytesIO(members["participants.csv"]))
    assert "arm_label" not in participants and "is_control" not in participants
    everything = b"".join(members.values())
    assert b"Intervention" not in everything and b"Usual services" not in everything
    text = pdf_text(result.pdf)
    assert "BLINDED" in text and "Usual services" not in text and "Intervention" not in text


def PLAN_VALUES() -> dict[str, object]:
    from tests.reports.conftest import PLAN

    return dict(PLAN)


def test_bad_input_still_completes_with_problems(rworld: ReportWorld, tmp_path: Path) -> None:
    """An outcome with no data at the time point, one arm empty: the report completes."""
    plan = lock_plan(rworld, primary_outcome="monthly_earnings", time_point="m6")
    factories.change_answers(
        Assessment.objects.filter(visit__definition__code="m6"), monthly_earnings=None
    )
    rworld.trial.arms.create(code="C", name="Third arm")
    result = pipeline.build(spec_for(rworld, plan), tmp_path)
    assert result.pdf is not None and result.pdf.read_bytes().startswith(b"%PDF")
    problems = [p for s in result.sections for p in s.problems]
    assert any("C" in p for p in problems)
    assert len(problems) >= 2


def test_data_kind_makes_only_the_zip(rworld: ReportWorld, tmp_path: Path) -> None:
    result = pipeline.build(spec_for(rworld, None, kind="data"), tmp_path)
    assert result.pdf is None and not list(tmp_path.glob("*.pdf"))
    assert "participants.dta" in zip_members(result.zip)


def test_effect_report_needs_a_plan(rworld: ReportWorld, tmp_path: Path) -> None:
    with pytest.raises(pipeline.ReportBuildError, match="write the plan first"):
        pipeline.build(spec_for(rworld, None), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_command_builds_the_same_report(rworld: ReportWorld, tmp_path: Path) -> None:
    plan = lock_plan(rworld)
    result = pipeline.build(spec_for(rworld, plan), tmp_path / "pipeline")
    out = io.StringIO()
    call_command(
        "build_report",
        "ips",
        "--kind",
        "effect",
        "--out",
        str(tmp_path / "cli"),
        "--cut-off",
        CUT_OFF.isoformat(),
        stdout=out,
        stderr=io.StringIO(),
    )
    assert result.snapshot_hash in out.getvalue()
    cli = zip_members(next((tmp_path / "cli").glob("*.zip")))
    ours = zip_members(result.zip)
    tables = [n for n in ours if n.startswith("tables/")]
    assert all(cli[n] == ours[n] for n in tables)
