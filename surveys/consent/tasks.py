"""Celery entry point for consent links (registered by ``SurveysConfig.ready``; the schedule
is in config/celery.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import Task, shared_task
from django.utils import timezone

from surveys.consent import delivery

# As questionnaire links: mail-server or SMS-gateway trouble is retried after 1, 2, 4, 8, 16 min.
MAX_RETRIES = 5
RETRY_BASE_SECONDS = 60


@shared_task(
    bind=True,
    acks_late=True,  # safe: each message is marked sent under its row lock
    max_retries=MAX_RETRIES,
    soft_time_limit=10 * 60,
    time_limit=11 * 60,
)
def send_consent_requests(self: Task, day: str | None = None) -> dict[str, Any]:
    """Send the consent links not yet sent (``delivery.send_consent_requests``). Safe to
    repeat: nothing is sent twice. Transient delivery failures retry the run."""
    target = dt.date.fromisoformat(day) if day else timezone.localdate()
    try:
        summary = delivery.send_consent_requests(target)
    except delivery.ConsentDeliveryError as error:
        raise self.retry(
            exc=error,
            kwargs={"day": target.isoformat()},
            countdown=RETRY_BASE_SECONDS * 2**self.request.retries,
        ) from error
    return summary.as_dict()
