"""Process report additions (recruitment and retention, site fidelity beside site outcomes,
adaptations) and pathways report additions (job strain by arm, a narrow indicator table),
against hand-computed numbers."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import time_machine

from fidelity.adaptations import services as adaptations
from reports import extract, pipeline
from reports.analysis import process
from reports.analysis.sequences_report import indicator_table
from reports.sections.fidelity import site_fidelity_section
from reports.sections.process import adaptations_section
from tests.conftest import World
from tests.occupations.helpers import MATRIX, TODAY, import_matrix
from tests.occupations.helpers import build as build_jobs
from tests.reports.conftest import CUT_OFF, ReportWorld, lock_plan
from trial.models import Trial


def csv(result: pipeline.BuildResult, key: str) -> pd.DataFrame:
    with zipfile.ZipFile(result.zip) as archive:
        return pd.read_csv(io.BytesIO(archive.read(f"tables/{key}.csv")))


def build(
    trial: Trial,
    kind: str,
    tmp_path: Path,
    *,
    blinded: bool = False,
    plan: object = None,
    cut_off: dt.date = CUT_OFF,
) -> pipeline.BuildResult:
    spec = pipeline.BuildSpec(
        trial=trial,
        kind=kind,
        cut_off=cut_off,
        seed=1,
        blinded=blinded,
        plan=plan,  # type: ignore[arg-type]
    )
    return pipeline.build(spec, tmp_path)


def report_input(rworld: ReportWorld, *, blinded: bool = False) -> pipeline.ReportInput:
    plan = lock_plan(rworld)
    return pipeline.ReportInput(
        trial=rworld.trial,
        data=extract.effect_data(rworld.trial, CUT_OFF),
        plan=pipeline.plan_spec(plan),
        seed=1,
        blinded=blinded,
        cut_off=CUT_OFF,
    )


# --- recruitment and retention ----------------------------------------------------------------


def test_recruitment_and_follow_up_completeness(rworld: ReportWorld, tmp_path: Path) -> None:
    result = build(rworld.trial, "process", tmp_path, plan=lock_plan(rworld))
    months = csv(result, "recruitment_by_month")
    # All twelve were randomised on 2024-01-10: six per arm.
    assert months.to_dict("records") == [
        {
            "month": "2024-01",
            "A: Intervention": 6,
            "B: Usual services": 6,
            "total": 12,
            "cumulative": 12,
        }
    ]
    sites = csv(result, "retention_by_site").set_index("site")
    # Site 0: R00–R02 (A) and R06–R08 (B), all assessed at m12. Site 1: R03–R05 (A), R09–R11
    # (B); R11 missed m12.
    assert sites["randomised"].to_dict() == {"OSLA": 6, "OSLB": 6}
    assert sites["due"].to_dict() == {"OSLA": 6, "OSLB": 6}
    assert sites["assessed"].to_dict() == {"OSLA": 6, "OSLB": 5}
    assert sites.loc["OSLB", "completeness"] == 5 / 6
    visits = csv(result, "completeness_by_visit").set_index(["visit", "arm"])
    assert visits.loc[("m12", "B: Usual services"), "missed"] == 1
    assert visits.loc[("m12", "B: Usual services"), "completeness"] == 5 / 6
    assert visits.loc[("m6", "A: Intervention"), "completeness"] == 1.0
    assert any(s.key == "recruitment" and s.figures for s in result.sections)
    # The PDF names the visit by its label; the data set keeps the code.
    recruitment = next(s for s in result.sections if s.key == "recruitment")
    retention = next(t for t in recruitment.tables if t.key == "retention_by_site")
    assert retention.labels["completeness"] == "Completeness at 12 months"
    assert retention.notes == ["Assessments due: at 12 months, by the cut-off."]


def test_recruitment_by_month_keeps_empty_months() -> None:
    people = pd.DataFrame(
        {
            "study_id": ["a", "b", "c"],
            "arm": ["A", "B", "A"],
            "randomised_on": [dt.date(2025, 1, 5), dt.date(2025, 1, 20), dt.date(2025, 3, 1)],
        }
    )
    frame = process.recruitment_by_month(people, {"A": "A", "B": "B"})
    assert frame.to_dict("list") == {
        "month": ["2025-01", "2025-02", "2025-03"],
        "A": [1, 0, 1],
        "B": [1, 0, 0],
        "total": [2, 0, 1],
        "cumulative": [2, 2, 3],
    }


# --- site fidelity and site outcomes ----------------------------------------------------------

REVIEWS = pd.DataFrame(
    {
        "site": ["OSLA", "OSLA", "OSLB"],
        "review_date": [dt.date(2024, 6, 1), dt.date(2025, 1, 1), dt.date(2025, 2, 1)],
        "scale": ["IPS-25 1"] * 3,
        "total": [80, 100, 70],
        "band": ["Fair", "Good", "Fair"],
    }
)


def test_site_fidelity_beside_the_intervention_arms_outcome(rworld: ReportWorld) -> None:
    inp = report_input(rworld)
    inp.cache["fidelity_reviews"] = REVIEWS
    section = site_fidelity_section(inp)
    assert section.tables[0].labels["outcome"] == "In paid work at 12 months (share)"
    assert "at 12 months) of the intervention arm" in section.text[0]
    frame = section.tables[0].frame.set_index("site")
    # Intervention arm at m12: OSLA R00–R02 all in work; OSLB R03 in work, R04 and R05 not.
    assert list(frame.index) == ["OSLA", "OSLB"]
    assert frame.loc["OSLA", "fidelity_total"] == 100  # the latest review
    assert frame.loc["OSLA", "outcome"] == 1.0 and frame.loc["OSLA", "assessed"] == 3
    assert frame.loc["OSLB", "outcome"] == 1 / 3 and frame.loc["OSLB", "fidelity_total"] == 70
    assert "not randomised" in " ".join(section.text)
    assert section.figures and "<svg" in section.figures[0].svg
    assert not section.tables[0].notes  # two sites: no correlation reported


def test_site_fidelity_relation_is_left_out_for_blinded_readers(rworld: ReportWorld) -> None:
    inp = report_input(rworld, blinded=True)
    inp.cache["fidelity_reviews"] = REVIEWS
    section = site_fidelity_section(inp)
    assert section.problems and not section.tables and not section.figures


def test_spearman_needs_four_sites() -> None:
    frame = pd.DataFrame({"fidelity_total": [1.0, 2, 3, 4], "outcome": [0.1, 0.3, 0.2, 0.4]})
    rho, n = process.spearman(frame)  # type: ignore[misc]
    assert n == 4 and rho == pytest.approx(0.8)
    assert process.spearman(frame.head(3)) is None


# --- adaptations --------------------------------------------------------------------------------


def test_process_report_lists_the_adaptations_by_the_cut_off(
    rworld: ReportWorld, tmp_path: Path
) -> None:
    coordinator = rworld.world.users["coordinator"]
    site = rworld.world.sites[1]
    for day, where, text in (
        (dt.date(2024, 5, 1), site, "Employer visits paused."),
        (dt.date(2024, 3, 1), None, "Video meetings with health teams."),
        (dt.date(2025, 7, 1), None, "After the cut-off."),
    ):
        adaptations.record_adaptation(
            rworld.trial,
            site=where,
            adapted_on=day,
            component=None,
            description=text,
            actor=coordinator,
        )
    result = build(rworld.trial, "process", tmp_path)
    frame = csv(result, "adaptations")
    assert frame["description"].tolist() == [
        "Video meetings with health teams.",
        "Employer visits paused.",
    ]
    assert frame["site"].tolist() == ["Whole trial", "OSLB"]
    # Blinded readers of a cluster trial do not learn the intervention sites from them.
    Trial.objects.filter(pk=rworld.trial.pk).update(design=Trial.Design.CLUSTER)
    rworld.trial.refresh_from_db()
    inp = report_input(rworld, blinded=True)
    section = adaptations_section(inp)
    assert "site" not in section.tables[0].frame.columns and section.tables[0].notes


# --- pathways: job strain and indicators -------------------------------------------------------


@time_machine.travel(TODAY, tick=False)
def test_pathways_report_has_job_strain_by_arm(world: World, tmp_path: Path) -> None:
    build_jobs(world)
    import_matrix(world, MATRIX)
    cut_off = TODAY.date()
    result = build(world.trial, "pathways", tmp_path, cut_off=cut_off)
    frame = csv(result, "job_strain_by_arm").set_index(["arm", "measure"])
    # Arm A jobs 5223, 9112, 7411: mechanical 4, –, 5; psychosocial 3, 5, –.
    # Arm B jobs 5221, 9122, 4110: mechanical 3, –, –; psychosocial 3, 2, –.
    assert frame.loc[("A: Intervention", "Mechanical strain"), "mean"] == 4.5
    assert frame.loc[("A: Intervention", "Mechanical strain"), "n"] == 2
    assert frame.loc[("A: Intervention", "Psychosocial strain"), "mean"] == 4.0
    assert frame.loc[("B: Usual services", "Mechanical strain"), "mean"] == 3.0
    assert frame.loc[("B: Usual services", "Psychosocial strain"), "mean"] == 2.5
    assert frame.loc[("All arms", "Mechanical strain"), "jobs"] == 6
    section = next(s for s in result.sections if s.key == "job-strain")
    assert section.figures and not section.problems
    blinded = build(world.trial, "pathways", tmp_path / "b", blinded=True, cut_off=cut_off)
    assert set(csv(blinded, "job_strain_by_arm")["arm"]) == {"A", "B", "All arms"}
    # Jobs first seen after the cut-off are left out.
    early = build(world.trial, "pathways", tmp_path / "e", cut_off=dt.date(2025, 3, 3))
    section = next(s for s in early.sections if s.key == "job-strain")
    assert section.problems and not section.figures


def test_pathways_report_without_a_matrix_says_so(world: World, tmp_path: Path) -> None:
    result = build(world.trial, "pathways", tmp_path)
    section = next(s for s in result.sections if s.key == "job-strain")
    assert "no active job exposure matrix" in section.problems[0]


def test_indicator_table_is_one_row_per_indicator() -> None:
    indicators = pd.DataFrame(
        {"transitions": [1, 3, 2, 2], "entropy": [0.0, 0.5, 0.2, 0.4], "spells": [2, 4, 3, 3]}
    )
    arms = np.array(["A", "A", "B", "B"])
    frame = indicator_table(indicators, arms, ["A", "B"])
    assert list(frame.columns) == ["indicator", "A|mean", "A|sd", "B|mean", "B|sd"]
    assert frame["indicator"].tolist() == ["Transitions", "Longitudinal entropy", "Spells"]
    assert frame["A|mean"].tolist() == [2.0, 0.25, 3.0]
    assert frame["B|sd"].tolist() == pytest.approx([0.0, 0.02**0.5, 0.0])
