"""The demo trial's losses to follow-up reach the CONSORT flow, arm by arm."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.test import Client

from demo.seed import seed_demo
from fidelity.contacts.demo import LOSS_SILENCE_DAYS
from fidelity.models import Contact
from reports import extract
from reports.analysis.consort import consort_counts
from tests.conftest import verified_login
from trial.models import LossToFollowUp


@pytest.mark.django_db
def test_demo_losses_are_counted_by_arm_in_the_consort_flow() -> None:
    as_of = dt.date(2026, 6, 30)
    trial = seed_demo(participants=150, seed=7, as_of=as_of).trial
    losses = LossToFollowUp.objects.filter(participant__trial=trial)
    by_arm = dict(
        losses.values_list("participant__allocation__arm__code").annotate(n=Count("id")).order_by()
    )
    assert sum(by_arm.values()) >= 2
    # Contacts stop some weeks before a loss.
    for loss in losses:
        assert not Contact.objects.filter(
            participant=loss.participant,
            contact_on__gt=loss.lost_on - dt.timedelta(days=LOSS_SILENCE_DAYS),
        ).exists()

    data = extract.effect_data(trial, as_of)
    counts = consort_counts(*extract.consort_frames(trial, as_of, data, "m12"))
    assert {arm.code: arm.lost for arm in counts.arms} == {
        code: by_arm.get(code, 0) for code in ("A", "B")
    }
    for arm in counts.arms:
        assert sum(arm.lost_reasons.values()) == arm.lost

    coordinator = get_user_model().objects.get(username="coordinator")
    client = verified_login(Client(), coordinator)
    response = client.get(f"/trials/{trial.code}/reports/consort.svg?cut_off={as_of}")
    assert response.status_code == 200
    svg = response.content.decode().replace("\u00a0", " ")
    shown = [int(n) for n in re.findall(r"Lost to follow-up \(n = (\d+)\)", svg)]
    assert shown == [arm.lost for arm in counts.arms]


@pytest.mark.django_db
def test_visits_after_a_loss_are_not_assessed_because_lost() -> None:
    """A visit due after the participant was lost is missing for that reason (not "missed" or
    "not yet due"), counts as due in the completeness table, and has its own flow row."""
    from reports.analysis.process import completeness_by_visit

    as_of = dt.date(2026, 6, 30)
    trial = seed_demo(participants=150, seed=7, as_of=as_of).trial
    losses = {
        loss.participant.study_id: loss.lost_on
        for loss in LossToFollowUp.objects.filter(participant__trial=trial).select_related(
            "participant"
        )
    }
    data = extract.effect_data(trial, as_of)
    missed = data.missed
    lost_rows = missed[missed["reason"] == "lost"]
    assert not lost_rows.empty
    assert set(lost_rows["study_id"]) <= set(losses)
    for row in lost_rows.itertuples():
        assert losses[row.study_id] < row.due_on
    # Every unassessed visit due after a loss (not marked missed first) says so.
    after = missed[missed["study_id"].isin(losses)]
    after = after[[losses[s] < d for s, d in zip(after["study_id"], after["due_on"], strict=True)]]
    assert set(after["reason"]) <= {"lost", "missed"}
    assert (after["reason"] == "lost").sum() == len(lost_rows)

    names = {"A": "A", "B": "B"}
    table = completeness_by_visit(data.participants, data.outcomes, missed, names)
    assert table["lost"].sum() == len(lost_rows)
    assert (
        table["due"] == table["assessed"] + table["missed"] + table["withdrawn"] + table["lost"]
    ).all()
