"""Celery entry points for register imports. Periodic schedules are in config/celery.py."""

from __future__ import annotations

from celery import shared_task

from pathways import importing


@shared_task(soft_time_limit=20 * 60, time_limit=21 * 60)
def check_spell_import(spell_import_id: int) -> str:
    """Check the uploaded register file of ``SpellImport`` ``spell_import_id``.

    Progress, counts and row errors are stored on the row (``importing.execute_check``). Safe
    to repeat: an import no longer waiting to be checked is left alone. Returns its status.
    """
    return importing.execute_check(spell_import_id)


@shared_task(soft_time_limit=20 * 60, time_limit=21 * 60)
def apply_spell_import(spell_import_id: int) -> str:
    """Write the valid rows of a confirmed register import as spells.

    See ``importing.execute_apply``. Safe to repeat: an import no longer queued is left alone,
    and the writes themselves are idempotent. Returns its status.
    """
    return importing.execute_apply(spell_import_id)
