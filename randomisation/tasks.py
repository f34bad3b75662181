"""Celery entry points for randomisation. Periodic schedules are in config/celery.py."""

from __future__ import annotations

from celery import shared_task

from randomisation import simulation_jobs


@shared_task(soft_time_limit=20 * 60, time_limit=21 * 60)
def run_simulation(run_id: int) -> str:
    """Simulate a scheme over many virtual trials for the ``SimulationRun`` ``run_id``.

    Progress, the result or the error are stored on the row (see
    ``simulation_jobs.execute``). Safe to repeat: a run that is no longer queued is left alone.
    A run that overruns the soft time limit is marked failed. Returns the final status.
    """
    return simulation_jobs.execute(run_id)
