"""A small trial with known arms and outcomes for the report pipeline tests.

Twelve participants at two sites, randomised 2024-01-10 (entered as imported allocations so the
arms are known): arm A (intervention) six, arm B (usual services, control) six. At m12, four of
A and two of B are in paid work; one participant in B has no m12 assessment (missed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from instruments import services as instruments
from randomisation.allocation import services as randomisation
from randomisation.models import Allocation
from reports import services
from reports.models import AnalysisPlan
from tests import factories
from tests.conftest import World
from tests.reports.phq import phq  # noqa: F401 - a fixture of the reports tests
from trial import services as trial_services
from trial.models import CovariateDefinition, Participant, VisitDefinition

RANDOMISED_ON = dt.date(2024, 1, 10)
CUT_OFF = dt.date(2025, 6, 1)
# (site index, arm, in work at m6, in work at m12 or None for a missed m12)
PEOPLE = [
    (0, "A", False, True),
    (0, "A", True, True),
    (0, "A", False, True),
    (1, "A", False, True),
    (1, "A", False, False),
    (1, "A", False, False),
    (0, "B", False, True),
    (0, "B", True, True),
    (0, "B", False, False),
    (1, "B", False, False),
    (1, "B", False, False),
    (1, "B", False, None),
]
PLAN = {
    "primary_outcome": "in_paid_work",
    "time_point": "m12",
    "secondary_outcomes": ["self_rated_health"],
    "analysis_model": "Logistic regression on arm adjusted for sex; risk difference.",
    "covariates": ["sex"],
    "missing": "complete_case",
    "subgroups": ["sex"],
    "notes": "",
}


@dataclass
class ReportWorld:
    world: World
    people: list[Participant]

    @property
    def trial(self) -> Any:
        return self.world.trial


def outcome(day: dt.date, working: bool, health: int) -> dict[str, Any]:
    return {
        "assessed_on": day,
        "in_paid_work": working,
        "hours_per_week": Decimal("20.0") if working else None,
        "monthly_earnings": 18000 if working else None,
        "occupation_code": "",
        "on_benefits": not working,
        "benefit_type": "" if working else "work_assessment_allowance",
        "self_rated_health": health,
    }


@pytest.fixture
def rworld(world: World) -> ReportWorld:
    trial = world.trial
    trial.registry_id = "NCT09999999"
    trial.save(update_fields=["registry_id"])
    CovariateDefinition.objects.create(
        trial=trial,
        key="sex",
        label="Sex",
        kind=CovariateDefinition.Kind.CHOICE,
        choices=[["female", "Female"], ["male", "Male"]],
    )
    CovariateDefinition.objects.create(
        trial=trial, key="age", label="Age", kind=CovariateDefinition.Kind.INTEGER
    )
    VisitDefinition.objects.create(trial=trial, code="m6", label="6 months", offset_months=6)
    VisitDefinition.objects.create(trial=trial, code="m12", label="12 months", offset_months=12)
    arms = {arm.code: arm for arm in trial.arms.all()}
    coordinator = world.users["coordinator"]
    people = []
    for i, (site_index, arm, work6, work12) in enumerate(PEOPLE):
        person = factories.make_participant(
            trial,
            world.sites[site_index],
            enrolled_on=dt.date(2024, 1, 2),
            baseline={"sex": "female" if i % 2 else "male", "age": 20 + i},
            study_id=f"R{i:02d}",
        )
        randomisation.record_manual(
            person,
            arm=arms[arm],
            on=RANDOMISED_ON,
            reference="",
            reason="",
            actor=coordinator,
            source=Allocation.Source.IMPORTED,
        )
        visits = {v.definition.code: v for v in person.visits.select_related("definition")}
        instruments.record_assessment(
            visits["m6"], values=outcome(dt.date(2024, 7, 12), work6, 3), actor=coordinator
        )
        if work12 is None:
            trial_services.mark_visit_missed(visits["m12"], actor=coordinator)
        else:
            instruments.record_assessment(
                visits["m12"],
                values=outcome(dt.date(2025, 1, 15), work12, 4 if work12 else 2),
                actor=coordinator,
            )
        people.append(person)
    return ReportWorld(world=world, people=people)


def lock_plan(rw: ReportWorld, **changes: Any) -> AnalysisPlan:
    statistician = rw.world.users["statistician"]
    plan = services.save_plan_draft(rw.trial, values={**PLAN, **changes}, actor=statistician)
    return services.lock_plan(plan, actor=statistician)


@pytest.fixture(autouse=True)
def report_files(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Report files go to a folder of the test's own."""
    settings.FILES_ROOT = tmp_path_factory.mktemp("files")
    return settings.FILES_ROOT


@pytest.fixture
def no_queue(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Builds are not sent to a broker; the test runs them with execute_report."""
    sent: list[int] = []
    monkeypatch.setattr(services, "enqueue", sent.append)
    return sent
