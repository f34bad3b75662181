"""What a visit keeps of its instruments' answers: the contamination answer (asked once per
visit, whatever the instruments), its completion date, and its timeline entries."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine

from instruments import services as instruments
from instruments.models import Assessment, Instrument
from instruments.setup import services as setup
from tests.conftest import World
from trial import services
from trial.models import AuditEvent, Trial, Visit, VisitDefinition

TODAY = dt.datetime(2025, 9, 1, 9, tzinfo=dt.UTC)
EMPLOYMENT = {"assessed_on": "2025-06-05", "in_paid_work": False, "on_benefits": False}


@pytest.fixture(autouse=True)
def today() -> Any:
    with time_machine.travel(TODAY, tick=False):
        yield


@pytest.fixture
def visit(world: World) -> Visit:
    Trial.objects.filter(pk=world.trial.pk).update(contamination_question="Helped?")
    VisitDefinition.objects.create(trial=world.trial, code="m3", label="3 months", offset_months=3)
    participant = world.participants["OSLA"][0]
    return services.generate_visits(participant, randomised_on=dt.date(2025, 3, 1))[0]


def two_instruments(world: World, visit: Visit) -> None:
    """The default instrument and a one-item mood instrument, both asked at the visit."""
    employment = setup.default_instrument(world.trial)
    mood = setup.create_instrument(
        world.trial,
        code="mood",
        name_en="Mood",
        name_nb="Humør",
        definition={
            "items": [{"name": "mood", "type": "integer", "label": "Mood", "min": "0", "max": "10"}]
        },
        actor=None,
    )
    for instrument in (employment, mood):
        setup.attach_instrument(instrument, [visit.definition], actor=None)


def test_the_contamination_answer_is_the_visits_and_a_later_instrument_may_change_it(
    world: World, visit: Visit
) -> None:
    two_instruments(world, visit)
    caseworker = world.users["caseworker"]
    instruments.record_assessment(
        visit, values={**EMPLOYMENT, "contamination_reported": "no"}, actor=caseworker
    )
    visit.refresh_from_db()
    assert visit.contamination_reported is False and visit.completed_on is None
    mood = Instrument.objects.get(trial=world.trial, code="mood")
    # Not answered again: the visit's answer stands.
    instruments.record_assessment(
        visit,
        values={"assessed_on": "2025-06-06", "mood": 7, "contamination_reported": None},
        actor=caseworker,
        instrument=mood,
    )
    visit.refresh_from_db()
    assert visit.contamination_reported is False
    assert visit.completed_on == dt.date(2025, 6, 6)  # every attached instrument answered
    changes = [
        e.data["changes"]
        for e in AuditEvent.objects.filter(
            action="visit.changed", target_id=str(visit.pk)
        ).order_by("id")
    ]
    assert changes == [
        {"contamination_reported": [None, False]},
        {"completed_on": [None, "2025-06-06"]},
    ]


def test_an_answer_to_the_contamination_question_must_be_yes_or_no(
    world: World, visit: Visit
) -> None:
    with pytest.raises(services.TrialError) as raised:
        instruments.record_assessment(
            visit, values={**EMPLOYMENT, "contamination_reported": "perhaps"}, actor=None
        )
    assert raised.value.field == "contamination_reported"
    assert not Assessment.objects.exists()


def test_a_corrected_date_moves_the_visits_completion_date(world: World, visit: Visit) -> None:
    assessment = instruments.record_assessment(visit, values=EMPLOYMENT, actor=None)
    visit.refresh_from_db()
    assert visit.completed_on == dt.date(2025, 6, 5)
    instruments.correct_assessment(
        assessment,
        values={**EMPLOYMENT, "assessed_on": "2025-06-02"},
        reason="Typed the wrong day",
        actor=world.users["datamanager"],
    )
    visit.refresh_from_db()
    assert visit.completed_on == dt.date(2025, 6, 2)
    event = (
        AuditEvent.objects.filter(action="visit.changed", target_id=str(visit.pk))
        .order_by("id")
        .last()
    )
    assert event is not None
    assert event.data["changes"] == {"completed_on": ["2025-06-05", "2025-06-02"]}
    assert event.actor == world.users["datamanager"]


def test_a_visit_read_before_the_withdrawal_takes_no_answers(world: World, visit: Visit) -> None:
    services.withdraw_participant(
        Visit.objects.get(pk=visit.pk).participant,
        withdrawn_on=dt.date(2025, 5, 1),
        scope="no_data",
        reason="Moved",
        actor=None,
    )
    with pytest.raises(services.TrialError, match="withdrew from the trial"):
        instruments.record_assessment(visit, values=EMPLOYMENT, actor=None)
    assert not Assessment.objects.exists()


def test_the_timeline_shows_each_answered_instrument(world: World, visit: Visit) -> None:
    two_instruments(world, visit)
    instruments.record_assessment(visit, values=EMPLOYMENT, actor=None)
    participant = visit.participant
    page = world.client("coordinator").get(f"/trials/ips/participants/{participant.study_id}/")
    entries = [e for e in page.context["timeline"] if e.kind == "assessment"]
    assert [(e.day, e.title, e.detail) for e in entries] == [
        (dt.date(2025, 6, 5), "Assessment: 3 months", "Employment and benefits")
    ]
