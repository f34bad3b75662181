"""An assessment's occupation code must be in STYRK-08: the service and the CSV import name the
code."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from instruments import services
from instruments.models import Assessment
from tests.conftest import World
from tests.factories import allocate
from tests.occupations.helpers import schedule
from trial.models import Visit
from trialimport import services as importing

TODAY = dt.datetime(2025, 9, 15, 10, tzinfo=dt.UTC)


def ready_visit(world: World) -> Visit:
    schedule(world)
    participant = world.participants["OSLA"][0]
    allocate(world, participant, "A")
    return Visit.objects.get(participant=participant, definition__code="m3")


@time_machine.travel(TODAY, tick=False)
def test_service_refuses_an_unknown_code(world: World) -> None:
    visit = ready_visit(world)
    values = {
        "assessed_on": dt.date(2025, 6, 3),
        "in_paid_work": True,
        "occupation_code": "9999",
        "on_benefits": False,
    }
    with pytest.raises(services.AnswersError) as raised:
        services.record_assessment(visit, values=values, actor=None)
    assert raised.value.answer_errors == {"occupation_code": "Unknown STYRK-08 code '9999'"}
    assert raised.value.field == "occupation_code"
    values["occupation_code"] = "52"  # a group is not a job: a unit group is needed
    with pytest.raises(services.AnswersError) as raised:
        services.record_assessment(visit, values=values, actor=None)
    assert raised.value.answer_errors == {"occupation_code": "Unknown STYRK-08 code '52'"}
    values["occupation_code"] = "5223"
    services.record_assessment(visit, values=values, actor=None)
    assert Assessment.objects.get().values["occupation_code"] == "5223"


@time_machine.travel(TODAY, tick=False)
def test_csv_import_names_the_code_and_line(world: World) -> None:
    ready_visit(world)
    study_id = world.participants["OSLA"][0].study_id
    csv = (
        "study_id,visit,assessed_on,in_paid_work,occupation_code,on_benefits\n"
        f"{study_id},m3,2025-06-03,yes,9999,no\n"
    )
    report = importing.import_trial(
        {"assessments.csv": csv.encode()}, actor=world.users["coordinator"], trial=world.trial
    )
    assert [(e.file, e.line, e.column, e.message) for e in report.errors] == [
        ("assessments.csv", 2, "occupation_code", "Unknown STYRK-08 code '9999'")
    ]
    assert not Assessment.objects.exists()
