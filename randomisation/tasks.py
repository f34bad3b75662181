"""Celery entry points for randomisation. Periodic schedules are in config/celery.py."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from randomisation.allocation import verification
from randomisation.simulation import services as simulation
from trial import jobs


@shared_task(**jobs.task_options(20))
def run_simulation(self: Any, run_id: int) -> str:
    """Simulate a scheme over many virtual trials for the ``SimulationRun`` ``run_id``.

    Progress, the result or the error are stored on the row (see
    ``simulation.services.execute``). Safe to repeat: a finished run is left alone. The message is
    acknowledged only after the run and redelivered if the worker dies (``acks_late`` +
    ``reject_on_worker_lost``); a delivery while a live worker holds the lease tries again
    once the lease could have run out. A dead worker's run is resumed by the job sweep
    (``trial.jobs``), from the same seed. A run that overruns the soft time limit is marked
    failed. Returns the final status.
    """
    return jobs.retry_if_busy(self, simulation.execute(run_id))


@shared_task
def write_allocation_checkpoints() -> int:
    """Write each trial's allocation-log head to its witness file (see
    ``allocation.verification.write_checkpoints``). Safe to repeat. Returns how many trials."""
    return verification.write_checkpoints()
