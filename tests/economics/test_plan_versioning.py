"""Unit costs versioned with the analysis plan: frozen with their hash when the plan is locked,
analysed from the frozen copy, and every change since named in the report and on the page.
Also the plan's primary outcome as the effect, and multiple imputation when the plan says so."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from demo.seed import seed_demo
from economics import plans, services
from economics.models import PlanUnitCosts, UnitCost
from reports import pipeline
from reports.analysis.results import Section
from reports.models import AnalysisPlan
from tests.conftest import verified_login
from trial.models import AuditEvent, Trial

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture
def demo(db: None) -> Trial:
    return seed_demo(participants=60, seed=3, as_of=AS_OF).trial


def build(trial: Trial, tmp_path: Path) -> pipeline.BuildResult:
    plan = pipeline.plan_in_force(trial)
    spec = pipeline.BuildSpec(
        trial=trial,
        kind="economic",
        cut_off=AS_OF,
        seed=pipeline.default_seed(trial, "economic", AS_OF, plan),
        blinded=False,
        plan=plan,
        ordered_by="statistician",
    )
    return pipeline.build(spec, tmp_path)


def section_of(result: pipeline.BuildResult) -> Section:
    return next(s for s in result.sections if s.key == "cost_effectiveness")


def test_locking_the_plan_freezes_the_unit_costs_with_their_hash(demo: Trial) -> None:
    frozen = PlanUnitCosts.objects.get(plan__trial=demo)
    assert frozen.plan.status == AnalysisPlan.Status.LOCKED
    live = plans.canonical_rows(demo)
    assert frozen.rows == live and len(live) == UnitCost.objects.filter(trial=demo).count()
    assert frozen.table_hash == plans.table_hash(live) and len(frozen.table_hash) == 64
    assert frozen.settings["horizon_months"] == 12 and frozen.settings["effect"]
    event = AuditEvent.objects.get(action="economics.frozen")
    assert event.data == {"table_hash": frozen.table_hash, "rows": len(live)}
    # Freezing again keeps the first copy.
    assert plans.freeze_for_plan(frozen.plan, actor=None).pk == frozen.pk


def test_the_report_uses_the_frozen_rows_and_names_the_changes(demo: Trial, tmp_path: Path) -> None:
    before = section_of(build(demo, tmp_path / "a"))
    frozen = PlanUnitCosts.objects.get(plan__trial=demo)
    assert any(
        frozen.table_hash in text and "has not changed since" in text for text in before.text
    )
    aap = UnitCost.objects.get(trial=demo, kind="benefit", key="aap")
    coordinator = demo.memberships.get(role="coordinator").user
    services.save_unit_cost(demo, actor=coordinator, unit_cost=aap, amount=Decimal(99_000))
    services.update_settings(demo, actor=coordinator, horizon_months=6)
    after = section_of(build(demo, tmp_path / "b"))
    assert any("has changed since" in text for text in after.text)
    assert any(
        "changed or removed" in p and "benefit aap" in p and "21500.0000" in p
        for p in after.problems
    )
    assert any("added or changed" in p and "99000.0000" in p for p in after.problems)

    def incremental(section: Section) -> list[float]:
        table = next(t for t in section.tables if t.key == "economic_incremental")
        return table.frame[["delta_cost", "delta_effect", "nmb"]].iloc[0].tolist()

    assert incremental(after) == incremental(before)  # frozen rows and settings


def test_the_unit_cost_page_shows_the_frozen_hash_and_the_changes(demo: Trial) -> None:
    coordinator = demo.memberships.get(role="coordinator").user
    client = verified_login(Client(), coordinator)
    url = reverse("economics:unit_costs", args=[demo.code])
    frozen = PlanUnitCosts.objects.get(plan__trial=demo)
    page = client.get(url).content.decode()
    assert frozen.table_hash in page and "The table has not changed since." in page
    aap = UnitCost.objects.get(trial=demo, kind="benefit", key="aap")
    services.save_unit_cost(demo, actor=coordinator, unit_cost=aap, amount=Decimal(99_000))
    page = client.get(url).content.decode()
    assert "The table has changed since the plan was locked" in page
    assert plans.table_hash(plans.canonical_rows(demo)) in page


def test_the_plans_primary_outcome_and_imputation_when_chosen(demo: Trial, tmp_path: Path) -> None:
    plan = AnalysisPlan.objects.get(trial=demo, status="locked")
    frozen = PlanUnitCosts.objects.get(plan=plan)
    frozen.settings = {**frozen.settings, "effect": "primary_outcome", "earnings": "register"}
    frozen.save(update_fields=["settings"])
    AnalysisPlan.objects.filter(pk=plan.pk).update(missing="multiple_imputation")
    section = section_of(build(demo, tmp_path))
    method = " ".join(section.text)
    assert f"primary outcome, {plan.primary_outcome}" in method or "primary outcome," in method
    assert "multiple imputation" in method and "Rubin" in method
    assert "earnings" in method
    table = next(t for t in section.tables if t.key == "economic_incremental")
    assert len(table.frame) == 2  # the payer's perspective and the societal one
    assert "societal" in table.frame.iloc[1]["comparison"]
    assert any("Rubin's rules" in note for note in table.notes)
    assert not any("not a number per participant" in p for p in section.problems)
