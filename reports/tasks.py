"""Celery entry points for reports. Periodic schedules are in config/celery.py."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from reports import services
from trial import jobs


@shared_task(**jobs.task_options(25))
def build_report(self: Any, report_id: int) -> str:
    """Build the ``ReportRequest`` ``report_id``: data, analyses, PDF and ZIP.

    Progress, the files and provenance, or the error are stored on the row (see
    ``services.execute_report``). Idempotent, so the message is acknowledged only after the
    build and redelivered if the worker dies (``acks_late`` + ``reject_on_worker_lost``); a
    delivery while a live worker holds the lease tries again once the lease could have run
    out. A dead worker's build is resumed by the job sweep (``trial.jobs``) in any case. A
    build that overruns the soft time limit is marked failed. Returns the final status.
    """
    return jobs.retry_if_busy(self, services.execute_report(report_id))
