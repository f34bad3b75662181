"""Celery entry points for register imports. Periodic schedules are in config/celery.py."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from pathways import importing
from trial import jobs


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=10,
    soft_time_limit=20 * 60,
    time_limit=21 * 60,
)
def check_spell_import(self: Any, spell_import_id: int) -> str:
    """Check the uploaded register file of ``SpellImport`` ``spell_import_id``.

    Progress, counts and row errors are stored on the row (``importing.execute_check``). Safe
    to repeat: an import no longer waiting to be checked is left alone, and a dead worker's
    check is run again by the job sweep (``trial.jobs``). Returns its status.
    """
    outcome = importing.execute_check(spell_import_id)
    if outcome == jobs.Claim.BUSY:
        raise self.retry(countdown=settings.JOB_LEASE_SECONDS)
    return outcome


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=10,
    soft_time_limit=20 * 60,
    time_limit=21 * 60,
)
def apply_spell_import(self: Any, spell_import_id: int) -> str:
    """Write the valid rows of a confirmed register import as spells.

    See ``importing.execute_apply``. Safe to repeat: an import no longer queued is left alone,
    the writes themselves are idempotent, and a worker killed mid-import leaves nothing
    written (one transaction) for the job sweep to run again. Returns its status.
    """
    outcome = importing.execute_apply(spell_import_id)
    if outcome == jobs.Claim.BUSY:
        raise self.retry(countdown=settings.JOB_LEASE_SECONDS)
    return outcome
