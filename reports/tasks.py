"""Celery entry points for reports. Periodic schedules are in config/celery.py."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from reports import services


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=10,
    soft_time_limit=25 * 60,
    time_limit=26 * 60,
)
def build_report(self: Any, report_id: int) -> str:
    """Build the ``ReportRequest`` ``report_id``: data, analyses, PDF and ZIP.

    Progress, the files and provenance, or the error are stored on the row (see
    ``services.execute_report``). Idempotent, so the message is acknowledged only after the
    build and redelivered if the worker dies (``acks_late`` + ``reject_on_worker_lost``): the
    redelivered build waits until the dead worker's lease has run out, then starts again.
    A build that overruns the soft time limit is marked failed. Returns the final status.
    """
    outcome = services.execute_report(report_id)
    if outcome == "busy":
        raise self.retry(countdown=settings.REPORT_LEASE_SECONDS)
    return outcome


@shared_task
def fail_stale_reports() -> int:
    """Mark builds whose worker went silent, and orders no worker took, as failed (see
    ``services.fail_stale_reports``).
    Safe to repeat. Returns how many were marked."""
    return services.fail_stale_reports()
