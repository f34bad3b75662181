"""Celery entry points for participant questionnaires, and the retry of a sending run that
the consent links' task (surveys/consent/tasks.py) shares. The schedule is in
config/celery.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Protocol

from celery import Task, shared_task
from django.utils import timezone

from surveys import delivery

# Mail-server or SMS-gateway trouble is retried after 1, 2, 4, 8 and 16 minutes.
MAX_RETRIES = 5
RETRY_BASE_SECONDS = 60


class RunSummary(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


def send_with_retries(
    task: Task,
    day: str | None,
    send: Callable[[dt.date], RunSummary],
    transient: type[Exception],
) -> dict[str, Any]:
    """Run ``send`` for ``day`` (an ISO date, by default today) and return its summary; when
    it raises ``transient`` (some messages not sent: mail server or SMS gateway down), retry
    the task for the same day after 1, 2, 4, 8 and 16 minutes, which sends only those."""
    target = dt.date.fromisoformat(day) if day else timezone.localdate()
    try:
        summary = send(target)
    except transient as error:
        raise task.retry(
            exc=error,
            kwargs={"day": target.isoformat()},
            countdown=RETRY_BASE_SECONDS * 2**task.request.retries,
        ) from error
    return summary.as_dict()


@shared_task(
    bind=True,
    acks_late=True,  # safe: each message is marked sent under its row lock
    max_retries=MAX_RETRIES,
    soft_time_limit=30 * 60,
    time_limit=31 * 60,
)
def send_participant_invitations(self: Task, day: str | None = None) -> dict[str, Any]:
    """Make the day's participant invitations and send the invitations and reminders due
    (``delivery.send_due``). ``day`` is an ISO date, by default today. Safe to repeat: nothing
    is sent twice. Transient delivery failures retry the run, which sends only those."""
    return send_with_retries(self, day, delivery.send_due, delivery.DeliveryError)
