"""Celery entry points for randomisation. Periodic schedules are in config/celery.py."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from randomisation import import_jobs, services, simulation_jobs


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=10,
    soft_time_limit=20 * 60,
    time_limit=21 * 60,
)
def run_simulation(self: Any, run_id: int) -> str:
    """Simulate a scheme over many virtual trials for the ``SimulationRun`` ``run_id``.

    Progress, the result or the error are stored on the row (see
    ``simulation_jobs.execute``). Safe to repeat: a finished run is left alone. The message is
    acknowledged only after the run and redelivered if the worker dies (``acks_late`` +
    ``reject_on_worker_lost``); the redelivered job waits until the dead worker's lease has run
    out, then runs again from the same seed. A run that overruns the soft time limit is marked
    failed. Returns the final status.
    """
    outcome = simulation_jobs.execute(run_id)
    if outcome == "busy":
        raise self.retry(countdown=settings.SIMULATION_LEASE_SECONDS)
    return outcome


@shared_task
def fail_stale_simulations() -> int:
    """Mark simulations whose worker went silent as failed (see
    ``simulation_jobs.fail_stale_simulations``). Safe to repeat. Returns how many."""
    return simulation_jobs.fail_stale_simulations()


@shared_task(acks_late=True, soft_time_limit=50 * 60, time_limit=55 * 60)
def run_import(import_id: int) -> str:
    """Check, or import, the files of ``TrialImport`` ``import_id`` (see
    ``import_jobs.execute``). Safe to repeat: an import not waiting for a step is left alone.
    The hard time limit stays under IMPORT_STALE_MINUTES. Returns the final status."""
    return import_jobs.execute(import_id)


@shared_task
def fail_stale_imports() -> int:
    """Fail imports whose worker went silent and remove checked files left waiting (see
    ``import_jobs.fail_stale_imports``). Safe to repeat. Returns how many changed."""
    return import_jobs.fail_stale_imports()


@shared_task
def write_allocation_checkpoints() -> int:
    """Write each trial's allocation-log head to its witness file (see
    ``services.write_checkpoints``). Safe to repeat. Returns how many trials."""
    return services.write_checkpoints()
