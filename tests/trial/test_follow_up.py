"""Screening, consent, withdrawal, visit schedule and assessments (services)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from instruments import services as instruments
from instruments.models import Assessment
from tests import factories
from tests.conftest import World
from trial import services
from trial.models import (
    AuditEvent,
    CovariateDefinition,
    ExclusionReason,
    Participant,
    ScreeningRecord,
    Visit,
    VisitDefinition,
)


def schedule(world: World) -> None:
    for code, months in (("m3", 3), ("m6", 6), ("m12", 12)):
        VisitDefinition.objects.create(
            trial=world.trial, code=code, label=code, offset_months=months
        )


def enrol(world: World, **overrides: Any) -> Participant:
    values: dict[str, Any] = {
        "site": world.sites[0],
        "personal_number": factories.personal_number(),
        "enrolled_on": dt.date(2025, 1, 31),
        "consent_version": "2.0",
        "consent_date": dt.date(2025, 1, 31),
        "actor": world.users["coordinator"],
    }
    values.update(overrides)
    return services.enrol_participant(world.trial, **values)


def outcome(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "assessed_on": dt.date(2025, 4, 30),
        "in_paid_work": True,
        "hours_per_week": Decimal("20.0"),
        "monthly_earnings": 18000,
        "occupation_code": "5223",
        "on_benefits": False,
        "benefit_type": "",
        "self_rated_health": 4,
    }
    values.update(overrides)
    return values


def test_visits_are_scheduled_in_calendar_months_with_windows(world: World) -> None:
    schedule(world)
    participant = enrol(world)
    visits = services.generate_visits(participant, randomised_on=dt.date(2025, 1, 31))
    assert [(v.definition.code, v.due_on) for v in visits] == [
        ("m3", dt.date(2025, 4, 30)),  # 31 January + 3 months: clipped to the month's end
        ("m6", dt.date(2025, 7, 31)),
        ("m12", dt.date(2026, 1, 31)),
    ]
    assert visits[0].window_start == dt.date(2025, 4, 16)
    assert visits[0].window_end == dt.date(2025, 5, 30)
    assert services.generate_visits(participant, randomised_on=dt.date(2025, 1, 31)) == []
    assert Visit.objects.filter(participant=participant).count() == 3


def test_visit_status_through_its_life(world: World) -> None:
    schedule(world)
    participant = enrol(world)
    visit = services.generate_visits(participant, randomised_on=dt.date(2025, 1, 31))[0]
    assert visit.status_on(dt.date(2025, 4, 15)) == Visit.Status.NOT_YET_DUE
    assert visit.status_on(dt.date(2025, 4, 16)) == Visit.Status.DUE
    assert visit.status_on(dt.date(2025, 5, 30)) == Visit.Status.DUE
    assert visit.status_on(dt.date(2025, 5, 31)) == Visit.Status.OVERDUE
    assert set(Visit.objects.due_by(dt.date(2025, 4, 16))) == {visit}
    assert set(Visit.objects.overdue_on(dt.date(2025, 5, 31))) == {visit}
    services.mark_visit_missed(visit, actor=None)
    visit.refresh_from_db()
    assert visit.status_on(dt.date(2025, 6, 1)) == Visit.Status.MISSED
    assert not Visit.objects.due_by(dt.date(2025, 6, 1)).filter(pk=visit.pk).exists()


def test_assessment_completes_the_visit_and_flags_out_of_window(world: World) -> None:
    schedule(world)
    participant = enrol(world, enrolled_on=dt.date(2025, 1, 31))
    participant.randomised_on = dt.date(2025, 1, 31)
    participant.save()
    first, second, _third = services.generate_visits(
        participant, randomised_on=dt.date(2025, 1, 31)
    )
    instruments.record_assessment(first, values=outcome(), actor=world.users["caseworker"])
    first.refresh_from_db()
    assert first.status_on(dt.date(2025, 5, 1)) == Visit.Status.COMPLETED
    assert first.in_window is True
    late = outcome(
        assessed_on=dt.date(2025, 10, 1),
        in_paid_work=False,
        hours_per_week=None,
        monthly_earnings=None,
        occupation_code="",
        on_benefits=True,
        benefit_type="work_assessment_allowance",
    )
    instruments.record_assessment(second, values=late, actor=None)
    second.refresh_from_db()
    assert second.in_window is False  # accepted, and flagged
    answered = Assessment.objects.get(visit=second)
    event = AuditEvent.objects.get(action="assessment.created", target_id=str(answered.pk))
    assert event.data["in_window"] is False
    with pytest.raises(services.TrialError, match="answered at this visit already"):
        instruments.record_assessment(second, values=late, actor=None)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"assessed_on": dt.date(2999, 1, 1)}, "assessed_on"),
        ({"assessed_on": dt.date(2024, 12, 1)}, "assessed_on"),
        ({"in_paid_work": False}, "hours_per_week"),
        ({"benefit_type": "social_assistance"}, "benefit_type"),
    ],
)
def test_inconsistent_assessment_is_refused_and_nothing_written(
    world: World, change: dict[str, Any], field: str
) -> None:
    schedule(world)
    participant = enrol(world)
    participant.randomised_on = dt.date(2025, 1, 31)
    participant.save()
    visit = services.generate_visits(participant, randomised_on=dt.date(2025, 1, 31))[0]
    with pytest.raises(services.TrialError) as info:
        instruments.record_assessment(visit, values=outcome(**change), actor=None)
    assert info.value.field == field
    visit.refresh_from_db()
    assert visit.completed_on is None


def test_out_of_range_assessment_value_is_refused(world: World) -> None:
    schedule(world)
    participant = enrol(world)
    visit = services.generate_visits(participant, randomised_on=dt.date(2025, 1, 31))[0]
    with pytest.raises(instruments.AnswersError) as info:
        instruments.record_assessment(visit, values=outcome(self_rated_health=7), actor=None)
    assert "self_rated_health" in info.value.answer_errors
    visit.refresh_from_db()
    assert visit.completed_on is None


def test_withdrawal_keeps_the_participant_counted_and_blocks_new_data(world: World) -> None:
    schedule(world)
    participant = enrol(world)
    visit = services.generate_visits(participant, randomised_on=dt.date(2025, 1, 31))[0]
    withdrawal = services.withdraw_participant(
        participant,
        withdrawn_on=dt.date(2025, 3, 1),
        scope="no_data",
        reason="Moved abroad",
        actor=world.users["coordinator"],
    )
    participant.refresh_from_db()
    assert participant.status == Participant.Status.WITHDRAWN
    assert withdrawal.get_scope_display().startswith("No further data")
    assert Participant.objects.filter(trial=world.trial).count() == 7  # still counted
    with pytest.raises(services.TrialError, match="withdrew from the trial on 2025-03-01"):
        instruments.record_assessment(visit, values=outcome(), actor=None)
    with pytest.raises(services.TrialError, match="already withdrawn"):
        services.withdraw_participant(
            participant, withdrawn_on=dt.date(2025, 3, 2), scope="no_data", reason="x", actor=None
        )
    actions = set(AuditEvent.objects.filter(trial=world.trial).values_list("action", flat=True))
    assert {"withdrawal.created", "participant.changed"} <= actions


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"withdrawn_on": dt.date(2999, 1, 1)}, "withdrawn_on"),
        ({"withdrawn_on": dt.date(2024, 1, 1)}, "withdrawn_on"),
        ({"scope": "everything"}, "scope"),
        ({"reason": "  "}, "reason"),
    ],
)
def test_bad_withdrawal_is_refused(world: World, values: dict[str, Any], field: str) -> None:
    participant = enrol(world)
    arguments: dict[str, Any] = {
        "withdrawn_on": dt.date(2025, 3, 1),
        "scope": "no_contact",
        "reason": "Tired",
    }
    arguments.update(values)
    with pytest.raises(services.TrialError) as info:
        services.withdraw_participant(participant, actor=None, **arguments)
    assert info.value.field == field
    participant.refresh_from_db()
    assert participant.status == Participant.Status.ACTIVE


def test_screening_log_rules_and_link_to_enrolment(world: World) -> None:
    reason = ExclusionReason.objects.create(trial=world.trial, code="age", label="Too old")
    site = world.sites[0]
    excluded = services.record_screening(
        world.trial,
        site=site,
        screened_on=dt.date(2025, 1, 5),
        eligible=False,
        exclusion_reason=reason,
        actor=None,
    )
    with pytest.raises(services.TrialError) as info:
        services.record_screening(
            world.trial, site=site, screened_on=dt.date(2025, 1, 5), eligible=False, actor=None
        )
    assert info.value.field == "exclusion_reason"
    with pytest.raises(services.TrialError):
        services.record_screening(
            world.trial,
            site=site,
            screened_on=dt.date(2025, 1, 5),
            eligible=False,
            exclusion_reason=reason,
            declined=True,
            actor=None,
        )
    eligible = services.record_screening(
        world.trial, site=site, screened_on=dt.date(2025, 1, 5), eligible=True, actor=None
    )
    with pytest.raises(services.TrialError) as info:
        enrol(world, screening=excluded)
    assert info.value.field == "screening"
    participant = enrol(world, screening=eligible)
    eligible.refresh_from_db()
    assert eligible.participant == participant
    assert ScreeningRecord.objects.filter(trial=world.trial).count() == 2


def test_enrolment_requires_consent_before_enrolment(world: World) -> None:
    with pytest.raises(services.TrialError) as info:
        enrol(world, consent_version=" ")
    assert info.value.field == "consent_version"
    with pytest.raises(services.TrialError) as info:
        enrol(world, consent_date=dt.date(2025, 2, 1))
    assert info.value.field == "consent_date"


def test_baseline_covariates_are_typed_and_validated(world: World) -> None:
    kind = CovariateDefinition.Kind
    CovariateDefinition.objects.create(
        trial=world.trial, key="age", label="Age", kind=kind.INTEGER, min_value=16, max_value=67
    )
    CovariateDefinition.objects.create(
        trial=world.trial,
        key="sex",
        label="Sex",
        kind=kind.CHOICE,
        choices=[["female", "Female"], ["male", "Male"]],
    )
    CovariateDefinition.objects.create(
        trial=world.trial,
        key="children",
        label="Has children",
        kind=kind.BOOLEAN,
        required=False,
    )
    with pytest.raises(services.BaselineError) as info:
        enrol(world, baseline={"age": "15", "sex": "x", "shoe_size": 44})
    assert set(info.value.errors) == {"age", "sex", "shoe_size"}
    assert "at least 16" in info.value.errors["age"]
    assert Participant.objects.filter(trial=world.trial).count() == 6
    participant = enrol(world, baseline={"age": "25", "sex": "male", "children": "ja"})
    assert participant.baseline == {"age": 25, "sex": "male", "children": True}


@time_machine.travel(dt.datetime(2025, 2, 1, 12, tzinfo=dt.UTC), tick=False)
def test_future_dates_are_relative_to_today(world: World) -> None:
    with pytest.raises(services.TrialError) as info:
        enrol(world, enrolled_on=dt.date(2025, 2, 2), consent_date=dt.date(2025, 2, 1))
    assert info.value.field == "enrolled_on"
