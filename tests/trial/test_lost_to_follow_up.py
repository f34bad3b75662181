"""Loss to follow-up: recorded with a reason, counted, reminders stop, and undone when found."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine

from tests.conftest import World
from trial import reminders, services
from trial.models import AuditEvent, LossToFollowUp, Participant, VisitDefinition

TODAY = dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _today() -> Any:
    with time_machine.travel(TODAY, tick=False):
        yield


def test_lost_participant_is_counted_drops_out_of_reminders_and_can_be_found(world: World) -> None:
    VisitDefinition.objects.create(trial=world.trial, code="m3", label="3 months", offset_months=3)
    participant = world.participants["OSLA"][0]
    services.generate_visits(participant, randomised_on=dt.date(2025, 3, 1))
    caseworker = world.users["caseworker"]
    assert [
        r.study_id
        for s in reminders.digest_for(caseworker, TODAY.date()).trials
        for r in s.overdue + s.coming_due
    ] == [participant.study_id]
    loss = services.mark_lost_to_follow_up(
        participant,
        lost_on=dt.date(2025, 5, 20),
        reason="unreachable",
        detail="Three calls, two letters",
        actor=world.users["coordinator"],
    )
    participant.refresh_from_db()
    assert participant.status == Participant.Status.LOST
    assert loss.get_reason_display() == "Cannot be reached"
    assert not reminders.digest_for(caseworker, TODAY.date()).trials
    assert Participant.objects.filter(trial=world.trial, pk=participant.pk).exists()
    with pytest.raises(services.TrialError, match="Only an active participant"):
        services.mark_lost_to_follow_up(
            participant, lost_on=dt.date(2025, 5, 21), reason="moved", actor=None
        )
    services.mark_found_again(participant, actor=world.users["coordinator"])
    participant.refresh_from_db()
    assert participant.status == Participant.Status.ACTIVE
    assert not LossToFollowUp.objects.exists()
    actions = list(
        AuditEvent.objects.filter(trial=world.trial).order_by("id").values_list("action", flat=True)
    )
    assert actions[-4:] == [
        "losstofollowup.created",
        "participant.changed",
        "losstofollowup.deleted",
        "participant.changed",
    ]
    with pytest.raises(services.TrialError, match="not lost"):
        services.mark_found_again(participant, actor=None)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"lost_on": dt.date(2999, 1, 1)}, "lost_on"),
        ({"lost_on": dt.date(2000, 1, 1)}, "lost_on"),
        ({"reason": "bored"}, "reason"),
    ],
)
def test_refusals_name_the_field_and_save_nothing(
    world: World, values: dict[str, Any], field: str
) -> None:
    participant = world.participants["OSLA"][0]
    args: dict[str, Any] = {"lost_on": dt.date(2025, 5, 20), "reason": "moved", **values}
    with pytest.raises(services.TrialError) as caught:
        services.mark_lost_to_follow_up(participant, actor=None, **args)
    assert caught.value.field == field
    participant.refresh_from_db()
    assert participant.status == Participant.Status.ACTIVE
    assert not LossToFollowUp.objects.exists()


def test_withdrawn_participant_cannot_be_lost(world: World) -> None:
    participant = world.participants["OSLA"][0]
    services.withdraw_participant(
        participant, withdrawn_on=dt.date(2025, 5, 1), scope="no_data", reason="x", actor=None
    )
    with pytest.raises(services.TrialError, match="this one is Withdrawn"):
        services.mark_lost_to_follow_up(
            participant, lost_on=dt.date(2025, 5, 20), reason="moved", actor=None
        )


def test_pages_record_and_undo_a_loss(world: World) -> None:
    participant = world.participants["OSLA"][0]
    url = f"/trials/ips/participants/{participant.study_id}/lost/"
    assert world.client("caseworker").get(url).status_code == 403
    client = world.client("coordinator")
    page = client.get(participant.get_absolute_url())
    assert url in page.content.decode()
    refused = client.post(url, {"lost_on": "2999-01-01", "reason": "moved"})
    assert refused.status_code == 200
    assert "The date cannot be in the future." in refused.content.decode()
    assert not LossToFollowUp.objects.exists()
    done = client.post(url, {"lost_on": "2025-05-20", "reason": "moved", "detail": "Left Oslo"})
    assert done.status_code == 302
    shown = client.get(participant.get_absolute_url()).content.decode()
    assert "Lost to follow-up on 2025-05-20" in shown
    assert "Moved away from the trial&#x27;s area — Left Oslo" in shown
    client.post(url, {"found": "1"})
    participant.refresh_from_db()
    assert participant.status == Participant.Status.ACTIVE


def test_api_marks_lost_and_found(world: World) -> None:
    participant = world.participants["OSLA"][0]
    url = f"/api/v1/trials/ips/participants/{participant.study_id}/loss-to-follow-up/"
    body = {"lost_on": "2025-05-20", "reason": "died"}
    assert (
        world.client("caseworker").post(url, body, content_type="application/json").status_code
        == 403
    )
    assert (
        world.client("outsider").post(url, body, content_type="application/json").status_code == 404
    )
    client = world.client("coordinator")
    bad = client.post(url, {**body, "reason": "x"}, content_type="application/json")
    assert bad.status_code == 400
    assert list(bad.json()["errors"]) == ["reason"]
    made = client.post(url, body, content_type="application/json")
    assert made.status_code == 201, made.json()
    assert made.json()["study_id"] == participant.study_id
    again = client.post(url, body, content_type="application/json")
    assert again.json()["errors"] == {
        "non_field_errors": [
            "Only an active participant can be lost to follow-up (this one is Lost to follow-up)."
        ]
    }
    assert client.delete(url).status_code == 204
    gone = client.delete(url)
    assert gone.status_code == 400
    assert gone.json()["errors"] == {
        "non_field_errors": ["The participant is not lost to follow-up."]
    }
