import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Q

from tests import factories
from tests.conftest import World
from trial import personal_numbers, services
from trial.demo import DEMO_TRIAL_CODE, seed_demo
from trial.models import (
    AuditEvent,
    LossToFollowUp,
    Membership,
    Participant,
    Site,
    Trial,
    Visit,
)


@pytest.mark.django_db
def test_seed_demo_builds_the_trial_deterministically() -> None:
    as_of = dt.date(2026, 6, 30)
    first = seed_demo(participants=40, seed=7, as_of=as_of)
    snapshot = list(
        Participant.objects.filter(trial=first.trial)
        .order_by("study_id")
        .values_list(
            "study_id",
            "site__code",
            "enrolled_on",
            "baseline",
            "status",
            "loss_to_follow_up__lost_on",
            "loss_to_follow_up__reason",
        )
    )
    assert len(snapshot) == 40
    assert first.trial.arms.count() == 2
    assert Site.objects.filter(trial=first.trial).count() == 12
    roles = set(Membership.objects.filter(trial=first.trial).values_list("role", flat=True))
    assert roles == set(Membership.Role.values)
    # Same seed and date: the same trial.
    Trial.objects.filter(code=DEMO_TRIAL_CODE).update(code="old")
    second = seed_demo(participants=40, seed=7, as_of=as_of)
    again = list(
        Participant.objects.filter(trial=second.trial)
        .order_by("study_id")
        .values_list(
            "study_id",
            "site__code",
            "enrolled_on",
            "baseline",
            "status",
            "loss_to_follow_up__lost_on",
            "loss_to_follow_up__reason",
        )
    )
    assert again == snapshot


@pytest.mark.django_db
def test_seed_demo_loses_a_few_participants_to_follow_up_and_stops_their_follow_up() -> None:
    as_of = dt.date(2026, 6, 30)
    trial = seed_demo(participants=120, seed=7, as_of=as_of).trial
    losses = list(
        LossToFollowUp.objects.filter(participant__trial=trial).select_related("participant")
    )
    randomised = Participant.objects.filter(trial=trial, randomised_on__isnull=False).count()
    assert 2 <= len(losses) <= 0.1 * randomised
    assert {loss.reason for loss in losses} <= set(LossToFollowUp.Reason.values)
    for loss in losses:
        participant = loss.participant
        assert participant.status == Participant.Status.LOST
        assert participant.randomised_on is not None
        assert participant.randomised_on < loss.lost_on <= as_of
        assert loss.detail
        # Recorded through the service: audited, by the demo coordinator.
        assert loss.recorded_by is not None and loss.recorded_by.username == "coordinator"
        assert AuditEvent.objects.filter(
            action="losstofollowup.created", target_id=str(loss.pk)
        ).exists()
        # Nothing after the loss: no assessment, and the visits due later stay open.
        visits = Visit.objects.filter(participant=participant)
        assert not visits.filter(completed_on__gte=loss.lost_on).exists()
        later = visits.filter(due_on__gt=loss.lost_on)
        assert later.exists()
        assert not later.filter(Q(completed_on__isnull=False) | Q(missed=True)).exists()
    assert Participant.objects.filter(trial=trial, status=Participant.Status.LOST).count() == len(
        losses
    )


@pytest.mark.django_db
def test_seed_demo_numbers_are_valid_synthetic_numbers() -> None:
    result = seed_demo(participants=10, seed=1)
    for p in Participant.objects.filter(trial=result.trial):
        number = personal_numbers.decrypt(p.personal_number_encrypted)
        assert personal_numbers.validate_personal_number(number) == number
        assert int(number[2:4]) > 80  # Tenor synthetic range, never a real person


@pytest.mark.django_db
def test_seed_demo_command_refuses_twice_and_if_empty_is_quiet() -> None:
    call_command("seed_demo", participants=5)
    with pytest.raises(CommandError, match="exists already"):
        call_command("seed_demo", participants=5)
    call_command("seed_demo", participants=5, if_empty=True)
    assert Participant.objects.count() == 5


def test_enrolment_gives_site_prefixed_unguessable_ids(world: World) -> None:
    site = world.sites[0]
    ids = [
        services.enrol_participant(
            world.trial,
            site=site,
            personal_number=factories.personal_number(),
            enrolled_on=dt.date(2025, 4, 1),
            consent_version="1.0",
            consent_date=dt.date(2025, 1, 2),
            actor=world.users["coordinator"],
        ).study_id
        for _ in range(5)
    ]
    assert all(i.startswith(f"{site.code}-") and len(i) == len(site.code) + 7 for i in ids)
    assert len(set(ids)) == 5


def test_duplicate_enrolment_names_the_existing_study_id(world: World) -> None:
    number = factories.personal_number()
    first = services.enrol_participant(
        world.trial,
        site=world.sites[0],
        personal_number=number,
        enrolled_on=dt.date(2025, 4, 1),
        consent_version="1.0",
        consent_date=dt.date(2025, 1, 2),
        actor=None,
    )
    with pytest.raises(services.TrialError) as info:
        services.enrol_participant(
            world.trial,
            site=world.sites[1],
            personal_number=number,
            enrolled_on=dt.date(2025, 4, 2),
            consent_version="1.0",
            consent_date=dt.date(2025, 1, 2),
            actor=None,
        )
    assert info.value.field == "personal_number"
    assert first.study_id in info.value.message
    # The same person may join another trial.
    other_site = Site.objects.get(trial=world.other_trial)
    services.enrol_participant(
        world.other_trial,
        site=other_site,
        personal_number=number,
        enrolled_on=dt.date(2025, 4, 2),
        consent_version="1.0",
        consent_date=dt.date(2025, 1, 2),
        actor=None,
    )


@pytest.mark.parametrize(
    ("number", "enrolled_on", "field"),
    [
        ("01010100132", dt.date(2025, 4, 1), "personal_number"),
        ("01010100131", dt.date(2999, 1, 1), "enrolled_on"),
    ],
)
def test_bad_enrolment_input_is_refused_and_nothing_written(
    world: World, number: str, enrolled_on: dt.date, field: str
) -> None:
    before = Participant.objects.count()
    with pytest.raises(services.TrialError) as info:
        services.enrol_participant(
            world.trial,
            site=world.sites[0],
            personal_number=number,
            enrolled_on=enrolled_on,
            consent_version="1.0",
            consent_date=dt.date(2025, 1, 2),
            actor=None,
        )
    assert info.value.field == field
    assert Participant.objects.count() == before


def test_site_of_another_trial_is_refused(world: World) -> None:
    other_site = Site.objects.get(trial=world.other_trial)
    with pytest.raises(services.TrialError) as info:
        services.enrol_participant(
            world.trial,
            site=other_site,
            personal_number=factories.personal_number(),
            enrolled_on=dt.date(2025, 4, 1),
            consent_version="1.0",
            consent_date=dt.date(2025, 1, 2),
            actor=None,
        )
    assert info.value.field == "site"
