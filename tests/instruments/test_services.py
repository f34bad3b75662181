"""Defining instruments and recording answers (services): versions, visits, scores, audit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from instruments import services
from instruments.models import Assessment, Instrument, VisitInstrument
from instruments.setup import services as setup
from tests import factories
from trial.models import AuditEvent, Visit, VisitDefinition
from trial.services import TrialError, generate_visits

MOOD: dict[str, Any] = {
    "items": [
        {
            "name": f"mood_{i}",
            "type": "choice",
            "label": {"en": f"Item {i}", "nb": f"Ledd {i}"},
            "required": True,
            "choices": [{"code": str(c), "label": str(c)} for c in range(4)],
        }
        for i in (1, 2, 3)
    ]
    + [{"name": "mood_note", "type": "text", "label": "Note", "show_if": "[mood_1] >= 2"}],
    "scales": [
        {
            "name": "mood_total",
            "label": "Total",
            "items": ["mood_1", "mood_2", "mood_3"],
            "reverse": ["mood_3"],
            "max_missing": 1,
        }
    ],
    "missing_codes": [{"code": "refused", "label": "Refused"}],
}


@pytest.fixture
def scene(db: Any) -> dict[str, Any]:
    trial = factories.make_trial()
    site = factories.make_site(trial)
    user = factories.make_user()
    baseline = VisitDefinition.objects.create(
        trial=trial, code="m0", label="Baseline", offset_months=0
    )
    VisitDefinition.objects.create(trial=trial, code="m6", label="6 months", offset_months=6)
    participant = factories.make_participant(trial, site, randomised_on=dt.date(2025, 1, 31))
    visits = generate_visits(participant, randomised_on=dt.date(2025, 1, 31))
    mood = setup.create_instrument(
        trial, code="mood", name_en="Mood", name_nb="Humør", definition=MOOD, actor=user
    )
    return {"trial": trial, "user": user, "visits": visits, "mood": mood, "baseline": baseline}


def test_default_instrument_is_made_once(scene: dict[str, Any]) -> None:
    first = setup.default_instrument(scene["trial"])
    assert setup.default_instrument(scene["trial"]) == first
    assert first.current_version().parsed.item("in_paid_work") is not None
    assert (
        AuditEvent.objects.filter(action="instrument.created", target_id=str(first.pk)).count() == 1
    )


def test_answers_are_checked_scored_and_audited(scene: dict[str, Any]) -> None:
    visit: Visit = scene["visits"][0]
    setup.attach_instrument(scene["mood"], [scene["baseline"]], actor=scene["user"])
    with pytest.raises(services.AnswersError) as info:
        services.record_assessment(
            visit,
            instrument=scene["mood"],
            actor=scene["user"],
            values={"assessed_on": "2025-01-31", "mood_1": 0, "mood_2": 9, "mood_note": "x"},
        )
    assert set(info.value.answer_errors) == {"mood_2", "mood_3", "mood_note"}
    assert not Assessment.objects.exists()
    record = services.record_assessment(
        visit,
        instrument=scene["mood"],
        actor=scene["user"],
        values={"assessed_on": dt.date(2025, 1, 31), "mood_1": 3, "mood_2": 2, "mood_note": "ok"},
        missing={"mood_3": "refused"},
    )
    assert record.scores == {"mood_total": 7.5}  # (3 + 2) / 2 × 3: one missing item prorated
    assert record.version.number == 1
    visit.refresh_from_db()
    assert visit.completed_on == dt.date(2025, 1, 31)
    event = AuditEvent.objects.get(action="assessment.created", target_id=str(record.pk))
    assert event.target_type == "instruments.assessment"
    with pytest.raises(TrialError, match="already"):
        services.record_assessment(
            visit,
            instrument=scene["mood"],
            actor=None,
            values={"assessed_on": "2025-01-31", "mood_1": 1, "mood_2": 1, "mood_3": 1},
        )


def test_a_visit_completes_when_every_attached_instrument_is_answered(
    scene: dict[str, Any],
) -> None:
    visit: Visit = scene["visits"][0]
    employment = setup.default_instrument(scene["trial"])
    setup.attach_instrument(scene["mood"], [scene["baseline"]], actor=None)
    six_months = VisitDefinition.objects.get(trial=scene["trial"], code="m6")
    setup.attach_instrument(employment, [scene["baseline"], six_months], actor=None)
    services.record_assessment(
        visit,
        actor=None,
        values={"assessed_on": "2025-02-01", "in_paid_work": False, "on_benefits": False},
    )
    visit.refresh_from_db()
    assert visit.completed_on is None
    services.record_assessment(
        visit,
        instrument=scene["mood"],
        actor=None,
        values={"assessed_on": "2025-02-03", "mood_1": 1, "mood_2": 1, "mood_3": 1},
    )
    visit.refresh_from_db()
    assert visit.completed_on == dt.date(2025, 2, 3)
    other = scene["visits"][1]
    with pytest.raises(TrialError, match="not asked at this visit"):
        services.record_assessment(
            other,
            instrument=scene["mood"],
            actor=None,
            values={"assessed_on": "2025-07-31", "mood_1": 1, "mood_2": 1, "mood_3": 1},
        )


def test_a_correction_needs_a_reason_and_recomputes_the_score(scene: dict[str, Any]) -> None:
    record = services.record_assessment(
        scene["visits"][0],
        instrument=scene["mood"],
        actor=None,
        values={"assessed_on": "2025-02-01", "mood_1": 1, "mood_2": 1, "mood_3": 3},
    )
    assert record.scores == {"mood_total": 2.0}
    with pytest.raises(TrialError, match="why"):
        services.correct_assessment(
            record, values={"mood_1": 1, "mood_2": 1, "mood_3": 0}, reason=" ", actor=None
        )
    corrected = services.correct_assessment(
        record,
        values={"mood_1": 1, "mood_2": 1, "mood_3": 0},
        reason="typed 3 for 0",
        actor=scene["user"],
    )
    assert corrected.scores == {"mood_total": 5.0}
    event = AuditEvent.objects.get(action="assessment.corrected")
    assert event.data["reason"] == "typed 3 for 0"
    assert event.data["changes"]["scores"] == [{"mood_total": 2.0}, {"mood_total": 5.0}]


def test_a_change_after_answers_makes_a_new_version(scene: dict[str, Any]) -> None:
    mood: Instrument = scene["mood"]
    changed = {
        **MOOD,
        "items": [*MOOD["items"], {"name": "mood_extra", "type": "yesno", "label": "Extra"}],
    }
    same = setup.revise_instrument(mood, definition=changed, actor=None)
    assert same.number == 1  # no answers yet: changed in place
    record = services.record_assessment(
        scene["visits"][0],
        instrument=mood,
        actor=None,
        values={"assessed_on": "2025-02-01", "mood_1": 1, "mood_2": 1, "mood_3": 1},
    )
    newer = setup.revise_instrument(
        mood, definition=MOOD, actor=scene["user"], note="extra item dropped"
    )
    assert newer.number == 2
    record.refresh_from_db()
    assert (
        record.version.number == 1
        and "mood_extra" in record.version.definition["items"][-1]["name"]
    )
    assert AuditEvent.objects.filter(action="instrument.versioned", target_id=str(mood.pk)).exists()
    with pytest.raises(setup.InstrumentError) as info:
        setup.revise_instrument(
            mood, definition={"items": [{"name": "9x", "type": "text", "label": "x"}]}, actor=None
        )
    assert info.value.errors[0][0] == "items[0].name"
    assert mood.versions.count() == 2


def test_an_answered_instrument_stays_attached_and_cannot_be_removed(scene: dict[str, Any]) -> None:
    mood: Instrument = scene["mood"]
    setup.attach_instrument(mood, [scene["baseline"]], actor=None)
    services.record_assessment(
        scene["visits"][0],
        instrument=mood,
        actor=None,
        values={"assessed_on": "2025-02-01", "mood_1": 1, "mood_2": 1, "mood_3": 1},
    )
    with pytest.raises(setup.InstrumentError, match="Answers exist"):
        setup.attach_instrument(mood, [], actor=None)
    assert VisitInstrument.objects.filter(instrument=mood).count() == 1
    with pytest.raises(setup.InstrumentError, match="cannot be removed"):
        setup.remove_instrument(mood, actor=None)
