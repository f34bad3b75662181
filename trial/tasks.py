"""Celery entry points for the trial app. Periodic schedules are in config/celery.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import Task, shared_task
from django.utils import timezone

from trial import jobs, reminders

# Mail-server trouble is retried after 1, 2, 4, 8 and 16 minutes, then the run fails loudly.
DIGEST_MAX_RETRIES = 5
DIGEST_RETRY_BASE_SECONDS = 60


@shared_task(
    bind=True,
    acks_late=True,  # safe: the per-user, per-day ReminderDigest row makes a rerun send nothing
    max_retries=DIGEST_MAX_RETRIES,
    soft_time_limit=10 * 60,
    time_limit=11 * 60,
)
def send_reminder_digests(self: Task, day: str | None = None) -> dict[str, Any]:
    """Send each caseworker one digest of their visits coming due and overdue on ``day``.

    ``day`` is an ISO date; by default today in ``TIME_ZONE``. Safe to repeat: digests already
    sent for the day are not sent again. If the mail server fails for some caseworkers, the
    task retries with backoff for the same day (also after midnight), sending only those.
    Returns the counts of the run.
    """
    target = dt.date.fromisoformat(day) if day else timezone.localdate()
    try:
        summary = reminders.send_digests(target)
    except reminders.DigestDeliveryError as error:
        raise self.retry(
            exc=error,
            kwargs={"day": target.isoformat()},
            countdown=DIGEST_RETRY_BASE_SECONDS * 2**self.request.retries,
        ) from error
    return summary.as_dict()


@shared_task(soft_time_limit=50, time_limit=55)
def sweep_jobs() -> int:
    """Resume or fail background jobs whose worker died, and fail jobs no worker took (see
    ``trial.jobs.sweep``). Safe to repeat, and to run twice at once. Returns how many jobs
    changed."""
    return jobs.sweep()
