"""Celery entry point of the trial import."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from trial import jobs
from trialimport import jobs as import_jobs


# The task keeps the name it had in ``randomisation``: messages queued before the move name it.
@shared_task(name="randomisation.tasks.run_import", **jobs.task_options(50, 55))
def run_import(self: Any, import_id: int) -> str:
    """Check, or import, the files of ``TrialImport`` ``import_id`` (see
    ``trialimport.jobs.execute``). Safe to repeat: an import not waiting for a step is left
    alone, and a worker killed mid-step leaves nothing written (one transaction), so the job
    sweep (``trial.jobs``) runs the step again. Returns the final status."""
    return jobs.retry_if_busy(self, import_jobs.execute(import_id))
