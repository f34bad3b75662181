"""Celery entry point for consent links (registered by ``SurveysConfig.ready``; the schedule
is in config/celery.py)."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from surveys.consent import delivery
from surveys.tasks import MAX_RETRIES, send_with_retries


@shared_task(
    bind=True,
    acks_late=True,  # safe: each message is marked sent under its row lock
    max_retries=MAX_RETRIES,
    soft_time_limit=10 * 60,
    time_limit=11 * 60,
)
def send_consent_requests(self: Task, day: str | None = None) -> dict[str, Any]:
    """Send the consent links not yet sent and the reminders due
    (``delivery.send_consent_requests``). ``day`` is an ISO date, by default today. Safe to
    repeat: nothing is sent twice. Transient delivery failures retry the run (as the
    questionnaires' task does), which sends only those."""
    return send_with_retries(
        self, day, delivery.send_consent_requests, delivery.ConsentDeliveryError
    )
