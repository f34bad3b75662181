"""A trial that measures depression (PHQ-9) at baseline and 12 months, for the tests of
reports on any item or score."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

import pytest

from instruments.services import record_assessment
from instruments.setup.services import (
    attach_instrument,
    create_instrument,
    default_instrument,
)
from randomisation.allocation import services as randomisation
from randomisation.models import Allocation
from tests import factories
from tests.conftest import World
from trial.models import Participant, Trial, VisitDefinition

RANDOMISED_ON = dt.date(2024, 1, 10)
CUT_OFF = dt.date(2025, 6, 1)
PHQ = [f"phq{i}" for i in range(1, 10)]
FREQUENCY = [
    ("0", "Not at all", "Ikke i det hele tatt"),
    ("1", "Several days", "Flere dager"),
    ("2", "More than half the days", "Mer enn halvparten av dagene"),
    ("3", "Nearly every day", "Nesten hver dag"),
]


def choices(rows: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [{"code": code, "label": {"en": en, "nb": nb}} for code, en, nb in rows]


def phq_definition(*, extra: bool = False) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {
            "name": name,
            "type": "choice",
            "label": {"en": f"PHQ-9 item {i}", "nb": f"PHQ-9 ledd {i}"},
            "choices": choices(FREQUENCY),
        }
        for i, name in enumerate(PHQ, 1)
    ]
    items += [
        {
            "name": "sick_days",
            "type": "integer",
            "label": {"en": "Days on sick leave, last month", "nb": "Sykedager siste måned"},
            "min": "0",
            "max": "31",
            "unit": "days",
        },
        {"name": "smoker", "type": "yesno", "label": {"en": "Smokes", "nb": "Røyker"}},
        {
            "name": "living",
            "type": "choice",
            "label": {"en": "Lives", "nb": "Bor"},
            "choices": choices(
                [("alone", "Alone", "Alene"), ("partner", "With a partner", "Med partner")]
            ),
        },
        {"name": "gp_visit", "type": "date", "label": {"en": "Last GP visit", "nb": "Fastlege"}},
        {
            "name": "support",
            "type": "multi",
            "label": {"en": "Support received", "nb": "Støtte mottatt"},
            "choices": choices([("nav", "NAV", "NAV"), ("gp", "GP", "Fastlege")]),
        },
        {"name": "comment", "type": "text", "label": {"en": "Comment", "nb": "Kommentar"}},
    ]
    if extra:
        items.append({"name": "exercise", "type": "yesno", "label": {"en": "Exercises"}})
    return {
        "items": items,
        "scales": [
            {
                "name": "phq9_total",
                "label": {"en": "PHQ-9 total score", "nb": "PHQ-9 totalskår"},
                "items": PHQ,
                "method": "sum",
                "max_missing": 1,
                "decimals": 0,
            }
        ],
        "missing_codes": [
            {"code": "refused", "label": {"en": "Refused to answer", "nb": "Vil ikke svare"}},
            {"code": "dont_know", "label": {"en": "Don't know", "nb": "Vet ikke"}},
        ],
    }


PLAN = {
    "primary_outcome": "phq9_total",
    "time_point": "m12",
    "secondary_outcomes": ["sick_days", "phq1"],
    "analysis_model": "ANCOVA of the PHQ-9 total at 12 months adjusted for its baseline value.",
    "covariates": ["phq9_total@baseline", "smoker@baseline"],
    "missing": "complete_case",
    "subgroups": ["living@baseline"],
    "notes": "",
}


@dataclass
class PhqWorld:
    world: World
    trial: Trial
    people: list[Participant]
    instrument: Any

    def user(self, persona: str) -> Any:
        return self.world.users[persona]


def answers(rng: random.Random, treated: bool, follow_up: bool) -> dict[str, Any]:
    shift = -0.9 if treated and follow_up else 0.0
    values: dict[str, Any] = {
        name: str(min(3, max(0, round(rng.gauss(1.4 + shift, 0.9))))) for name in PHQ
    }
    values["sick_days"] = min(31, max(0, round(rng.expovariate(1 / (4 if treated else 7)))))
    values["smoker"] = rng.random() < 0.3
    values["living"] = rng.choice(["alone", "partner"])
    values["gp_visit"] = "2023-12-01"
    values["support"] = ["nav", "gp"] if rng.random() < 0.5 else ["gp"]
    values["comment"] = rng.choice(["", "tired", "better"])
    return values


@pytest.fixture
def phq(world: World, monkeypatch: pytest.MonkeyPatch) -> PhqWorld:
    trial = world.trial
    coordinator = world.users["coordinator"]
    visits = [
        VisitDefinition.objects.create(trial=trial, code=code, label=label, offset_months=months)
        for code, label, months in (("m0", "Baseline", 0), ("m12", "12 months", 12))
    ]
    instrument = create_instrument(
        trial,
        code="phq9",
        name_en="PHQ-9 and work",
        name_nb="PHQ-9 og arbeid",
        definition=phq_definition(),
        actor=coordinator,
    )
    attach_instrument(instrument, visits, actor=coordinator)
    default_instrument(trial, actor=coordinator)  # the built-in items are offered too
    arms = {arm.code: arm for arm in trial.arms.all()}
    rng = random.Random(19)  # noqa: S311 - test data
    people = []
    for i in range(40):
        arm = "A" if i < 20 else "B"
        person = factories.make_participant(
            trial, world.sites[i % 2], enrolled_on=dt.date(2024, 1, 2), study_id=f"P{i:02d}"
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
        by_code = {v.definition.code: v for v in person.visits.select_related("definition")}
        for code, day in (("m0", RANDOMISED_ON), ("m12", dt.date(2025, 1, 15))):
            values = answers(rng, arm == "A", code == "m12")
            missing: dict[str, str] = {}
            if code == "m12" and i in (0, 21):
                values.pop("phq3")
                missing["phq3"] = "refused"  # one item missing: the total is prorated
            if code == "m12" and i == 22:
                values.pop("sick_days")
                missing["sick_days"] = "dont_know"
            if code == "m12" and i == 39:
                continue  # no 12-month assessment
            record_assessment(
                by_code[code],
                values={"assessed_on": day, **values},
                missing=missing,
                instrument=instrument,
                actor=coordinator,
            )
        people.append(person)
    return PhqWorld(world=world, trial=trial, people=people, instrument=instrument)
