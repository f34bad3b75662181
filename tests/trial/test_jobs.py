"""The job lifecycle (trial/jobs.py) on its own: claims, the lease kept by the heartbeat
thread through a long step, and the writes of an attempt that lost its job."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.utils import timezone

from randomisation.models import Scheme, SimulationRun
from tests.conftest import World
from trial import jobs


def queued_run(world: World) -> SimulationRun:
    scheme = Scheme.objects.create(trial=world.trial, method=Scheme.Method.BLOCKS, block_sizes=[4])
    return SimulationRun.objects.create(scheme=scheme, total=10)


def test_every_kind_of_job_is_swept() -> None:
    assert [model._meta.label for model in jobs.job_models()] == [
        "pathways.SpellImport",
        "randomisation.SimulationRun",
        "reports.ReportRequest",
        "trialimport.TrialImport",
    ]


def test_a_second_delivery_while_the_lease_holds_does_nothing(world: World) -> None:
    run = queued_run(world)
    assert jobs.claim(SimulationRun, run.pk)[0] == jobs.Claim.CLAIMED
    assert jobs.claim(SimulationRun, run.pk) == (jobs.Claim.BUSY, None)
    assert jobs.sweep() == 0
    run.refresh_from_db()
    assert run.status == "running" and run.attempts == 1
    assert jobs.claim(SimulationRun, run.pk + 1000) == (jobs.Claim.MISSING, None)


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_keeps_the_lease_through_a_long_step_and_stops_with_a_takeover(
    world: World, settings: Any
) -> None:
    settings.JOB_HEARTBEAT_SECONDS = 0.2
    run = queued_run(world)
    claim, claimed = jobs.claim(SimulationRun, run.pk)
    assert claim == jobs.Claim.CLAIMED and claimed is not None
    rows = SimulationRun.objects.filter(pk=run.pk)
    with jobs.held(claimed) as mine:
        time.sleep(1.0)  # a step that reports no progress
        beat, before = rows.get().heartbeat_at, claimed.heartbeat_at
        assert beat is not None and before is not None and beat > before
        # The lease ran out (the worker seemed dead) and the sweep queued the run again;
        # another worker took it.
        rows.update(status="queued")
        assert jobs.claim(SimulationRun, run.pk)[0] == jobs.Claim.CLAIMED
        second = rows.get().heartbeat_at
        time.sleep(0.6)
        assert rows.get().heartbeat_at == second  # the first attempt's thread renews nothing
        assert mine.update(done=5) == 0  # ... and can write nothing
        assert not jobs.fail(claimed, "late", rows=mine)
    run.refresh_from_db()
    assert (run.status, run.attempts, run.done, run.error) == ("running", 2, 0, "")
    assert run.heartbeat_at is not None and run.heartbeat_at <= timezone.now()
