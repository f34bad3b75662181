"""Celery entry points for register imports. Periodic schedules are in config/celery.py."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from pathways import importing
from trial import jobs


@shared_task(**jobs.task_options(20))
def check_spell_import(self: Any, spell_import_id: int) -> str:
    """Check the uploaded register file of ``SpellImport`` ``spell_import_id``.

    Progress, counts and row errors are stored on the row (``importing.execute_check``). Safe
    to repeat: an import no longer waiting to be checked is left alone, and a dead worker's
    check is run again by the job sweep (``trial.jobs``). Returns its status.
    """
    return jobs.retry_if_busy(self, importing.execute_check(spell_import_id))


@shared_task(**jobs.task_options(20))
def apply_spell_import(self: Any, spell_import_id: int) -> str:
    """Write the valid rows of a confirmed register import as spells.

    See ``importing.execute_apply``. Safe to repeat: an import no longer queued is left alone,
    the writes themselves are idempotent, and a worker killed mid-import leaves nothing
    written (one transaction) for the job sweep to run again. Returns its status.
    """
    return jobs.retry_if_busy(self, importing.execute_apply(spell_import_id))
