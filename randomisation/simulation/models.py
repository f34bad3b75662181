"""Simulations of a scheme, run as background jobs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_noop

from randomisation.schemes.models import Scheme
from trial import jobs


class SimulationRun(jobs.Job):
    """A background simulation of a scheme over many virtual trials (a job, ``trial.jobs``)."""

    Status = jobs.Status
    STEPS = {
        Status.QUEUED: jobs.Step(running=Status.RUNNING, task="randomisation.tasks.run_simulation")
    }
    QUEUE_DOWN = gettext_noop(
        "The task queue could not be reached, so the simulation was not started. "
        "Try again later, or ask the administrator to check the Celery broker."
    )
    WORKER_LOST = gettext_noop(
        "The worker running this simulation stopped (it was killed or ran out of memory) and "
        "the run was not resumed. Run the simulation again."
    )
    NOT_TAKEN = gettext_noop(
        "No worker started this simulation: the task queue lost it, or no worker is running. "
        "Run the simulation again."
    )

    scheme = models.ForeignKey(Scheme, on_delete=models.CASCADE, related_name="simulations")
    parameters: models.JSONField[dict[str, Any]] = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    result: models.JSONField[dict[str, Any]] = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.scheme} simulation {self.pk}"

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    def claimed(self, now: dt.datetime) -> list[str]:
        self.done = 0  # the run starts again from its seed
        return ["done"]
