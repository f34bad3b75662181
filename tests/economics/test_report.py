"""The cost-effectiveness section on the demo trial: in the full report and as its own kind,
with the plane, the acceptability curve, the per-participant costs in the ZIP, and arm codes
only when blinded."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from django.utils import translation

from demo.seed import seed_demo
from economics.models import PlanUnitCosts, UnitCost
from reports import pipeline
from trial.models import Trial

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture
def demo(db: None) -> Trial:
    return seed_demo(participants=60, seed=3, as_of=AS_OF).trial


def spec(trial: Trial, kind: str, *, blinded: bool = False) -> pipeline.BuildSpec:
    plan = pipeline.plan_in_force(trial)
    return pipeline.BuildSpec(
        trial=trial,
        kind=kind,
        cut_off=AS_OF,
        seed=pipeline.default_seed(trial, kind, AS_OF, plan),
        blinded=blinded,
        plan=plan,
        ordered_by="statistician",
    )


def test_the_demo_full_report_has_a_cost_effectiveness_section(demo: Trial, tmp_path: Path) -> None:
    result = pipeline.build(spec(demo, "full"), tmp_path)
    section = next(s for s in result.sections if s.key == "cost_effectiveness")
    assert section.part == "Economic evaluation"
    assert [f.key for f in section.figures] == ["ce_plane", "ceac"]
    assert all(f.svg.startswith("<?xml") for f in section.figures)
    incremental = next(t for t in section.tables if t.key == "economic_incremental")
    row = incremental.frame.iloc[0]
    assert row["comparison"].startswith("A: IPS")
    assert row["delta_cost_low"] <= row["delta_cost"] <= row["delta_cost_high"]
    assert 0 <= row["probability"] <= 1
    assert result.pdf is not None and result.pdf.stat().st_size > 0
    with zipfile.ZipFile(result.zip) as archive:
        costs = pd.read_csv(io.BytesIO(archive.read("economic_costs.csv")))
        dictionary = pd.read_csv(io.BytesIO(archive.read("economic_costs_dictionary.csv")))
    assert set(costs.columns) == set(dictionary["column"])
    assert (
        len(costs)
        == incremental.frame.iloc[0][["n_treated", "n_control"]].sum()
        + (costs["complete"] == 0).sum()
    )
    assert "personal_number" not in costs.columns
    # The demo's horizon is 12 months: nothing is discounted, so no discount scenario.
    sensitivity = next(t for t in section.tables if t.key == "economic_sensitivity")
    assert "discount" not in set(sensitivity.frame["varied"])
    assert any("The discount rate is not varied" in note for note in sensitivity.notes)


def test_a_missing_rate_is_listed_not_counted_as_zero(demo: Trial, tmp_path: Path) -> None:
    # A plan locked before unit costs were versioned: the live table is used.
    PlanUnitCosts.objects.filter(plan__trial=demo).delete()
    UnitCost.objects.filter(trial=demo, kind="benefit", key="aap").delete()
    result = pipeline.build(spec(demo, "economic"), tmp_path)
    section = next(s for s in result.sections if s.key == "cost_effectiveness")
    assert any("“aap”" in problem for problem in section.problems)
    assert any("no locked analysis plan holds a copy" in text for text in section.text)


def test_blinded_and_in_norwegian_the_section_shows_arm_codes(demo: Trial, tmp_path: Path) -> None:
    with translation.override("nb"):
        result = pipeline.build(spec(demo, "economic", blinded=True), tmp_path)
    section = next(s for s in result.sections if s.key == "cost_effectiveness")
    assert section.title == "Kostnadseffektivitet"
    incremental = next(t for t in section.tables if t.key == "economic_incremental")
    assert incremental.frame.iloc[0]["comparison"] == "A – B"
    assert "IPS" not in section.figures[0].svg
    notes = [note for table in section.tables for note in table.notes]
    # The willingness to pay in the reader's format: 200 000 (a no-break space), not 200,000.
    wtp = [note for note in notes if "betalingsvilje på" in note]
    assert wtp and all("betalingsvilje på 200\xa0000 per" in note for note in wtp), wtp


def test_a_stepped_wedge_trials_bootstrap_resamples_clusters(demo: Trial, tmp_path: Path) -> None:
    """Clusters cross from control to intervention in a stepped wedge: the bootstrap resamples
    clusters (sites) there too, never participants as if they were independent."""
    Trial.objects.filter(pk=demo.pk).update(design=Trial.Design.STEPPED_WEDGE)
    demo.refresh_from_db()
    result = pipeline.build(spec(demo, "economic"), tmp_path)
    section = next(s for s in result.sections if s.key == "cost_effectiveness")
    incremental = next(t for t in section.tables if t.key == "economic_incremental")
    assert any("bootstrap replicates (by cluster" in note for note in incremental.notes)
