"""The effect report's tables as readers see them: labels instead of machine keys, and the
comparison said once per table; the CSV files keep the keys and a comparison on every row."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from reports import pipeline, render
from reports.analysis.effect import Names, effect_sections
from reports.analysis.results import AnalysisPlan, Table
from reports.analysis.synthetic import synthetic_effect_data
from tests.reports.conftest import ReportWorld, lock_plan
from tests.reports.outputs import pdf_text, spec_for, table, zip_members
from trial.models import CovariateDefinition

COMPARISON = "Intervention vs Usual services"


def view_texts(view: dict[str, object]) -> list[str]:
    """Every text a table view puts in the PDF: subtitle, group headings and cells."""
    texts = [str(view["subtitle"])]
    for row in view["rows"]:  # type: ignore[attr-defined]
        texts.append(row["group"]) if "group" in row else texts.extend(
            c["text"] for c in row["cells"]
        )
    return texts


# --- the built effect report --------------------------------------------------------------


@dataclass
class Built:
    result: pipeline.BuildResult
    html: str  # the HTML WeasyPrint made the PDF from


def build_effect(
    rworld: ReportWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **plan: Any
) -> Built:
    """The effect report under the fixture's plan with ``plan``'s changes, and its HTML."""
    pages: list[str] = []
    report_html = render.report_html

    def keep(context: dict[str, object]) -> str:
        pages.append(report_html(context))
        return pages[-1]

    monkeypatch.setattr(render, "report_html", keep)
    result = pipeline.build(spec_for(rworld, lock_plan(rworld, **plan)), tmp_path)
    return Built(result, pages[0])


@pytest.fixture
def effect_report(rworld: ReportWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Built:
    return build_effect(rworld, tmp_path, monkeypatch)


def test_effect_pdf_shows_labels_not_keys(effect_report: Built) -> None:
    html, text = effect_report.html, pdf_text(effect_report.result.pdf)
    # Outcomes, the subgroup variable and its levels, the visit: labels only.
    for key in ("in_paid_work", "self_rated_health", "at m12", ">sex<", ">female<", ">male<"):
        assert key not in html, key
    for key in ("in_paid", "self_rated", "at m12", "female"):  # pdftotext may break words
        assert key not in text, key
    for label in ("In paid work", "Self-rated health", "Assessed at 12 months", "at 12 months"):
        assert label in html and label in text, label
    assert ">Sex<" in html and ">Female<" in html and ">Male<" in html
    tables = {t.key: t for t in effect_report.result.tables}
    primary = render.table_view(tables["primary_effect"])
    outcome = primary["columns"].index("Outcome")
    shown = [row["cells"][outcome]["text"] for row in primary["rows"]]
    assert shown[0] == "In paid work" and set(shown[1:]) == {""}  # said once, not per row


def test_comparison_is_shown_once_per_table(effect_report: Built) -> None:
    grouped = [t for t in effect_report.result.tables if "Comparison" in t.frame.columns]
    assert {t.key for t in grouped} >= {
        "primary_effect",
        "secondary_effects",
        "compliance_effects",
        "missing_sensitivity",
        "subgroups",
    }
    # Twelve participants give fewer than ten first jobs: no log-rank test or hazard ratio
    # (their tables are grouped the same way when there are enough events).
    (time_to_work,) = [s for s in effect_report.result.sections if s.key == "time_to_work"]
    assert any("No log-rank test or hazard ratio" in p for p in time_to_work.problems)
    for t in grouped:
        view = render.table_view(t)
        assert "Comparison" not in view["columns"], t.key
        assert view["subtitle"] == f"Comparison: {COMPARISON}", t.key
        assert view_texts(view).count(COMPARISON) == 0, t.key  # not on any row
    assert effect_report.html.count(f"Comparison: {COMPARISON}") == len(grouped)
    # Before: on every row of every comparison table; now once per table, and in the figure
    # title of the subgroup forest plot.
    assert pdf_text(effect_report.result.pdf).count(COMPARISON) == len(grouped) + 1


def test_csv_files_keep_the_keys_and_the_comparison_on_every_row(effect_report: Built) -> None:
    members = zip_members(effect_report.result.zip)
    primary = table(members, "primary_effect")
    assert set(primary["Outcome"]) == {"in_paid_work"}
    assert set(primary["Comparison"]) == {COMPARISON} and len(primary) > 1
    subgroups = table(members, "subgroups")
    assert set(subgroups["Subgroup"]) == {"sex"} and set(subgroups["Level"]) == {"female", "male"}
    flow = pd.read_csv(io.BytesIO(members["tables/flow.csv"]))
    assert "Assessed at m12" in set(flow.iloc[:, 0])


@pytest.fixture
def by_site_report(rworld: ReportWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Built:
    """The effect report adjusted for a covariate everyone has the same value of (benefit),
    with site as the subgroup."""
    CovariateDefinition.objects.create(
        trial=rworld.trial,
        key="benefit",
        label="Benefit type",
        kind=CovariateDefinition.Kind.CHOICE,
        choices=[["aap", "Work assessment allowance"], ["none", "No benefit"]],
    )
    for person in rworld.people:
        person.baseline = {**person.baseline, "benefit": "aap"}
        person.save(update_fields=["baseline"])
    return build_effect(
        rworld, tmp_path, monkeypatch, covariates=["sex", "benefit"], subgroups=["site"]
    )


def test_a_constant_covariate_is_left_out_with_a_note_naming_its_label(
    by_site_report: Built,
) -> None:
    note = "Covariate Benefit type is constant and was left out."
    tables = {t.key: t for t in by_site_report.result.tables}
    # Every adjusted model says so: the adjusted odds ratio, ANCOVA of the secondary outcome,
    # complete case and multiple imputation (this small trial has too few first jobs for a Cox
    # model; cox_hazard_ratio's own note is tested in tests/reports/analysis).
    for key in ("primary_effect", "secondary_effects", "missing_sensitivity"):
        assert any(note in str(n) for n in tables[key].frame["Note"]), key
    assert note in by_site_report.html
    assert "Covariate benefit " not in by_site_report.html
    assert "Benefittype" in pdf_text(by_site_report.result.pdf).replace(" ", "")


def test_site_as_subgroup_shows_the_sites_names(rworld: ReportWorld, by_site_report: Built) -> None:
    sites = {site.code: site.name for site in rworld.world.sites[:2]}
    tables = {t.key: t for t in by_site_report.result.tables}
    view = render.table_view(tables["subgroups"])
    texts = view_texts(view)
    assert set(sites.values()) <= set(texts) and "Site (NAV office)" in texts
    assert not set(sites) & set(texts)  # no site code in a cell
    figures = (f for s in by_site_report.result.sections for f in s.figures)
    forest = next(f for f in figures if f.key == "subgroups_forest")
    for code, name in sites.items():
        assert f"Site (NAV office): {name}" in forest.svg
        assert f": {code}<" not in forest.svg
    # The CSV keeps the codes.
    subgroups = table(zip_members(by_site_report.result.zip), "subgroups")
    assert set(subgroups["Subgroup"]) == {"site"} and set(subgroups["Level"]) == set(sites)


# --- the sections and the table view, without the database --------------------------------


def three_arm_sections(names: Names | None) -> dict[str, Table]:
    data = synthetic_effect_data(n=300, seed=3)
    people = data.participants
    third = people.index[people["arm"] == "B"][::2]
    people.loc[third, "arm"] = "C"
    people.loc[third, "arm_label"] = "IPS light"
    plan = AnalysisPlan(
        primary_outcome="in_paid_work",
        time_point="m12",
        secondary_outcomes=["hours_per_week", "on_benefits"],
        covariates=["age"],
        missing="complete_case",
        subgroups=["women", "education"],
    )
    sections = effect_sections(data, plan, seed=1, blinded=False, names=names)
    return {t.key: t for s in sections for t in s.tables}


def test_several_comparisons_get_a_heading_row_each() -> None:
    names = Names(
        covariates={"women": "Woman", "education": "Education"},
        levels={"education": {"higher": "Higher education"}},
        visits={"m12": "12 months"},
    )
    tables = three_arm_sections(names)
    view = render.table_view(tables["secondary_effects"])
    headings = [row["group"] for row in view["rows"] if "group" in row]
    assert headings == ["IPS vs Usual services", "IPS light vs Usual services"]
    assert view["subtitle"] == "" and "Comparison" not in view["columns"]
    outcomes = [r["cells"][0]["text"] for r in view["rows"] if "cells" in r]
    assert "hours_per_week" not in outcomes and "on_benefits" not in outcomes
    # Each outcome named once per comparison, then left blank on its other rows.
    assert [o for o in outcomes if o] == ["Hours per week", "On benefits"] * 2
    assert tables["secondary_effects"].title == "Effects on secondary outcomes at 12 months"
    subgroups = render.table_view(tables["subgroups"])
    texts = view_texts(subgroups)
    assert {"Woman", "Education", "Higher education", "yes", "no"} <= set(texts)
    assert not {"women", "education", "higher"} & set(texts)
    # The frames (the CSV files) keep the keys and the comparison on every row.
    frame = tables["secondary_effects"].frame
    assert set(frame["Outcome"]) == {"hours_per_week", "on_benefits"}
    assert frame["Comparison"].notna().all()
    assert set(tables["subgroups"].frame["Subgroup"]) == {"women", "education"}


def test_without_names_the_outcome_is_still_a_label() -> None:
    tables = three_arm_sections(None)
    view = render.table_view(tables["primary_effect"])
    assert "In paid work" in view_texts(view) and "in_paid_work" not in view_texts(view)


def test_grouping_and_repeats_in_the_table_view() -> None:
    frame = pd.DataFrame(
        {
            "Comparison": ["B vs A", "C vs A", "B vs A"],  # as the analyses list them
            "Subgroup": ["sex", "sex", "sex"],
            "p for interaction": [0.2, 0.2, 0.2],
            "Estimate": [0.1, 0.3, 0.2],
        }
    )
    t = Table(
        "t",
        "T",
        frame,
        shown={"Subgroup": ["Sex"] * 3},
        group="Comparison",
        runs=("Subgroup", "p for interaction"),
    )
    view = render.table_view(t)
    assert view["columns"] == ["Subgroup", "p for interaction", "Estimate"]
    # The PDF shows each comparison's rows together under one heading; the CSV keeps its order.
    assert [r.get("group") or [c["text"] for c in r["cells"]] for r in view["rows"]] == [
        "B vs A",
        ["Sex", "0.200", "0.10"],
        ["", "", "0.20"],
        "C vs A",
        ["Sex", "0.200", "0.30"],  # a new group names its subgroup again
    ]
    assert view["rows"][1]["cells"][0].get("continued") is True
    # One comparison only: said once under the title.
    assert list(t.frame["Estimate"]) == [0.1, 0.3, 0.2]
    single = Table("t", "T", frame.iloc[[0, 2]], group="Comparison")
    assert render.table_view(single)["subtitle"] == "Comparison: B vs A"
    assert all("group" not in r for r in render.table_view(single)["rows"])
    assert "Comparison" in single.frame.columns


def test_the_outcome_at_baseline_is_named_in_a_left_out_covariate_note() -> None:
    # Nobody was in paid work at baseline, so the baseline outcome is a constant covariate.
    data = synthetic_effect_data(n=200, seed=4)
    baseline = data.outcomes["offset_months"] == 0
    data.outcomes.loc[baseline, "in_paid_work"] = False
    data.participants["benefit"] = "aap"
    plan = AnalysisPlan(
        primary_outcome="in_paid_work",
        time_point="m12",
        secondary_outcomes=[],
        covariates=["age", "benefit"],
        missing="complete_case",
        subgroups=[],
    )
    names = Names(covariates={"age": "Age", "benefit": "Benefit type"})
    sections = effect_sections(data, plan, seed=1, blinded=False, names=names)
    tables = {t.key: t for s in sections for t in s.tables}
    (note,) = {n for n in tables["primary_effect"].frame["Note"] if n}
    assert note == (
        "Covariate in paid work at baseline is constant and was left out. "
        "Covariate Benefit type is constant and was left out."
    )
    # Without names a trial's covariate is named by its key.
    sections = effect_sections(data, plan, seed=1, blinded=False)
    tables = {t.key: t for s in sections for t in s.tables}
    notes = " ".join(n for n in tables["primary_effect"].frame["Note"] if n)
    assert "Covariate benefit is constant" in notes
