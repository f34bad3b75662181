"""Importing register spells from a CSV file: upload, check, then import or cancel.

The file's format and the checks of its rows are in ``pathways.checking``. **Checking** is a
job: the rows are checked there, and the valid ones wait in ``PendingSpell`` by participant id
(COPY on PostgreSQL), without the personal numbers, and are compared with the spells the trial
holds: new, changed (same person, state, start and source, another end or detail) or
unchanged.

**Importing** happens only on the data manager's decision: when every row is valid, or when
they accept that the invalid rows are skipped. One ``INSERT … ON CONFLICT`` writes the new and
changed spells, so importing the same file again changes nothing. The sequences are
invalidated, the data-quality flags recomputed, and the import is in the audit trail.

Personal numbers from the file are never logged or stored: the uploaded file is kept only
encrypted and only until it is checked, and error messages name lines, never numbers.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from pathways import services
from pathways.checking import CheckResult, Progress, check_rows
from pathways.models import PathwaySettings, PendingSpell, SpellImport
from pathways.services import PathwayError
from trial import audit, jobs
from trial.models import Trial

logger = logging.getLogger(__name__)

MAX_STORED_ERRORS = 1000
INLINE_BYTES = 512 * 1024
"""Files up to this size are checked and imported during the request; larger ones on Celery."""

STEPS = {
    "queued": gettext_noop("Waiting for a worker…"),
    "reading": gettext_noop("Reading the file…"),
    "validating": gettext_noop("Checking the rows…"),
    "staging": gettext_noop("Setting the valid rows aside…"),
    "comparing": gettext_noop("Comparing with the spells the trial holds…"),
    "writing": gettext_noop("Writing the spells…"),
    "flags": gettext_noop("Looking for overlapping spells…"),
}

UNEXPECTED = gettext_noop(
    "an unexpected error, which has been logged; tell the administrator if it happens again"
)

# --- staging and comparing ------------------------------------------------------------------


def _stage(spell_import: SpellImport, valid: pd.DataFrame) -> None:
    """Put the valid rows into PendingSpell: COPY on PostgreSQL, bulk inserts elsewhere."""
    PendingSpell.objects.filter(spell_import=spell_import).delete()
    if valid.empty:
        return
    ends = valid["ends_on"].to_numpy()
    end_text = np.where(np.isnat(ends), "\\N", np.datetime_as_string(ends, unit="D"))
    if connection.vendor == "postgresql":
        out = pd.DataFrame(
            {
                "spell_import_id": spell_import.pk,
                "line": valid["line"],
                "participant_id": valid["participant_id"],
                "state_id": valid["state_id"],
                "starts_on": np.datetime_as_string(valid["starts_on"].to_numpy(), unit="D"),
                "ends_on": end_text,
                "source": valid["source"],
                "detail": valid["detail"],
            }
        )
        buffer = out.to_csv(index=False, header=False)
        sql = (
            "COPY pathways_pendingspell (spell_import_id, line, participant_id, state_id, "
            "starts_on, ends_on, source, detail) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
        )
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            step = 8 * 1024 * 1024
            for start in range(0, len(buffer), step):
                copy.write(buffer[start : start + step])
        return
    PendingSpell.objects.bulk_create(
        (
            PendingSpell(
                spell_import=spell_import,
                line=int(row.line),
                participant_id=int(row.participant_id),
                state_id=int(row.state_id),
                starts_on=pd.Timestamp(row.starts_on).date(),
                ends_on=None if pd.isna(row.ends_on) else pd.Timestamp(row.ends_on).date(),
                source=row.source,
                detail=row.detail,
            )
            for row in valid.itertuples(index=False)
        ),
        batch_size=2000,
    )


def _differs(old: str, new: str) -> str:
    """SQL: spell ``old`` and row ``new`` differ in end or detail (NULL-safe)."""
    operator = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    return f"({old}.ends_on {operator} {new}.ends_on OR {old}.detail <> {new}.detail)"


def _compare(spell_import: SpellImport) -> tuple[int, int, int]:
    """(new, changed, unchanged) among the import's pending rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT COALESCE(SUM(CASE WHEN s.id IS NULL THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN s.id IS NOT NULL AND {_differs("s", "p")}
                                THEN 1 ELSE 0 END), 0),
                   COUNT(*)
            FROM pathways_pendingspell p
            LEFT JOIN pathways_spell s
              ON s.participant_id = p.participant_id AND s.state_id = p.state_id
             AND s.starts_on = p.starts_on AND s.source = p.source
            WHERE p.spell_import_id = %s
            """,  # noqa: S608 - fixed SQL, values are parameters
            [spell_import.pk],
        )
        new, changed, total = cursor.fetchone()
    return int(new), int(changed), int(total) - int(new) - int(changed)


# --- the import's life: upload, check, apply or cancel ---------------------------------------


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.FIELD_ENCRYPTION_KEYS])


def upload_path(spell_import: SpellImport | int) -> Path:
    pk = spell_import if isinstance(spell_import, int) else spell_import.pk
    return SpellImport.folder() / f"import-{pk}.bin"


def create_import(
    trial: Trial,
    *,
    data: bytes,
    file_name: str,
    default_source: str,
    actor: User | None,
    keep_file: bool = True,
) -> SpellImport:
    """Record an upload (who, when, the file's SHA-256) and keep the file, encrypted, until it
    is checked. Nothing else is written. Audited."""
    with transaction.atomic():
        spell_import = SpellImport.objects.create(
            trial=trial,
            file_name=file_name[:200],
            file_sha256=hashlib.sha256(data).hexdigest(),
            file_size=len(data),
            default_source=default_source,
            uploaded_by=actor,
            uploaded_by_name=actor.get_username() if actor else "system",
            step="queued",
        )
        if keep_file:
            path = upload_path(spell_import)
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(_fernet().encrypt(data))
            os.replace(temporary, path)
        audit.record(
            "spellimport.uploaded",
            spell_import,
            actor=actor,
            trial=trial,
            data={"file_sha256": spell_import.file_sha256, "bytes": len(data)},
        )
    return spell_import


def _progress_of(rows: QuerySet[SpellImport]) -> Progress:
    def progress(step: str, percent: int) -> None:
        rows.update(step=step, done=percent)

    return progress


def check_import(spell_import: SpellImport, data: bytes) -> CheckResult:
    """Check an uploaded file and set its valid rows aside; the import waits for a decision.

    Claims the import (``trial.jobs.claim``), so a second delivery does nothing and returns an
    empty result. Raises nothing for bad rows: they are the result.
    """
    _claim, job = jobs.claim(SpellImport, spell_import.pk)
    if job is None:
        return CheckResult.empty()
    with jobs.held(job) as mine:
        return _check(job, data, mine)


def _check(spell_import: SpellImport, data: bytes, mine: QuerySet[SpellImport]) -> CheckResult:
    """The check of a claimed import; ``mine`` matches it while this attempt holds it."""
    progress = _progress_of(mine)
    result = check_rows(
        data, spell_import.trial, default_source=spell_import.default_source, progress=progress
    )
    new = changed = unchanged = 0
    with transaction.atomic():
        progress("staging", 60)
        PendingSpell.objects.filter(spell_import=spell_import).delete()  # an earlier attempt's
        if not result.file_level:
            _stage(spell_import, result.valid)
            progress("comparing", 90)
            new, changed, unchanged = _compare(spell_import)
        counts = result.errors["kind"].value_counts().to_dict()
        checked = mine.update(
            status=SpellImport.Status.CHECKED,
            rows_total=result.total,
            rows_valid=0 if result.file_level else len(result.valid),
            rows_invalid=result.invalid_lines,
            rows_new=new,
            rows_changed=changed,
            rows_unchanged=unchanged,
            errors=result.error_list(MAX_STORED_ERRORS),
            error_counts={str(k): int(v) for k, v in counts.items()},
            done=100,
            step="",
        )
        if not checked:  # the sweep gave the check to another worker meanwhile
            transaction.set_rollback(True)
    return result


def confirm_import(
    spell_import: SpellImport, *, skip_invalid: bool, actor: User | None
) -> SpellImport:
    """The data manager's decision to import a checked file.

    Raises PathwayError when the import is not waiting for a decision, when the file as a
    whole is unusable, or when rows have errors and ``skip_invalid`` was not accepted.
    Queue or run ``execute_apply`` afterwards.
    """
    with transaction.atomic():
        locked = SpellImport.objects.select_for_update().get(pk=spell_import.pk)
        if locked.status != SpellImport.Status.CHECKED:
            raise PathwayError(_("This file is not waiting to be imported."))
        if locked.rows_valid == 0 and locked.rows_invalid == 0 and locked.errors:
            raise PathwayError(_("The file cannot be imported; correct it and upload it again."))
        if locked.rows_invalid and not skip_invalid:
            raise PathwayError(
                _(
                    "Some rows have errors: correct the file, or accept that the rows with "
                    "errors are skipped."
                ),
                field="skip_invalid",
            )
        locked.status = SpellImport.Status.IMPORT_QUEUED
        locked.skip_invalid = bool(locked.rows_invalid)
        locked.imported_by = actor
        locked.step = "queued"
        locked.done = 0
        locked.heartbeat_at = timezone.now()
        locked.attempts = 0  # a new step, with attempts of its own
        fields = ["status", "skip_invalid", "imported_by", "step", "done", "heartbeat_at"]
        locked.save(update_fields=[*fields, "attempts"])
    return locked


def execute_apply(spell_import_id: int) -> str:
    """Write a confirmed import's valid rows as spells, in one transaction.

    New spells are inserted and changed ones (same person, state, start and source) updated
    by one ``INSERT … ON CONFLICT``; unchanged rows are not touched, so importing the same file
    twice changes nothing. The sequences are invalidated when anything changed, the flags
    recomputed, and an audit event records the counts. Claims the import first
    (``trial.jobs.claim``): safe to repeat. Returns the final status, or the claim's
    ``busy``, ``skipped`` or ``missing``.
    """
    claim, job = jobs.claim(SpellImport, spell_import_id)
    if job is None:
        return claim
    with jobs.held(job) as mine:
        return _apply(job, mine)


def _apply(job: SpellImport, mine: QuerySet[SpellImport]) -> str:
    """The import of a claimed, confirmed file; ``mine`` matches it while this attempt holds
    it."""
    mine.update(step="writing", done=10)
    spell_import = SpellImport.objects.select_related("trial", "imported_by").get(pk=job.pk)
    trial = spell_import.trial
    try:
        with transaction.atomic():
            services.settings_for(trial)
            PathwaySettings.objects.select_for_update().get(trial=trial)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"""
                    INSERT INTO pathways_spell (trial_id, participant_id, state_id, starts_on,
                                                ends_on, source, detail, spell_import_id)
                    SELECT %s, p.participant_id, p.state_id, p.starts_on, p.ends_on, p.source,
                           p.detail, %s
                    FROM pathways_pendingspell p
                    WHERE p.spell_import_id = %s
                    ON CONFLICT (participant_id, state_id, starts_on, source) DO UPDATE
                    SET ends_on = excluded.ends_on, detail = excluded.detail,
                        spell_import_id = excluded.spell_import_id
                    WHERE {_differs("pathways_spell", "excluded")}
                    """,  # noqa: S608 - fixed SQL, values are parameters
                    [trial.pk, spell_import.pk, spell_import.pk],
                )
                written = max(cursor.rowcount, 0)
            PendingSpell.objects.filter(spell_import=spell_import).delete()
            if written:
                services.bump_version(trial)
                services.refresh_flags(trial)
            now = timezone.now()
            done = mine.update(
                status=SpellImport.Status.DONE,
                rows_written=written,
                imported_at=now,
                finished_at=now,
                step="",
                done=100,
            )
            if not done:  # the sweep gave the import to another worker meanwhile
                transaction.set_rollback(True)
                return jobs.Claim.SKIPPED
            audit.record(
                "spells.imported",
                spell_import,
                actor=spell_import.imported_by,
                trial=trial,
                data={
                    "file_sha256": spell_import.file_sha256,
                    "rows": spell_import.rows_total,
                    "accepted": spell_import.rows_valid,
                    "rejected": spell_import.rows_invalid,
                    "written": written,
                    "skip_invalid": spell_import.skip_invalid,
                },
            )
    except Exception:  # whatever it was, the import must not stay "importing"
        logger.exception("spell import %s failed", job.pk)
        jobs.fail(job, _(UNEXPECTED), rows=mine, step="")
        return SpellImport.Status.FAILED
    return SpellImport.Status.DONE


def discard(spell_import_id: int) -> None:
    """Remove what a failed import left: its waiting rows and its uploaded file."""
    PendingSpell.objects.filter(spell_import_id=spell_import_id).delete()
    upload_path(spell_import_id).unlink(missing_ok=True)


def execute_check(spell_import_id: int) -> str:
    """Check an uploaded file kept on disk, then remove the file. Safe to repeat: only an
    import waiting to be checked (or whose worker's lease ran out) is checked. Returns the
    status, or the claim's ``busy``, ``skipped`` or ``missing``."""
    claim, job = jobs.claim(SpellImport, spell_import_id)
    if job is None:
        return claim
    path = upload_path(job)
    with jobs.held(job) as mine:
        try:
            data = _fernet().decrypt(path.read_bytes())
            _check(job, data, mine)
        except Exception:  # the import must not stay "checking"
            logger.exception("checking spell import %s failed", spell_import_id)
            jobs.fail(job, _(UNEXPECTED), rows=mine, step="")
            return SpellImport.Status.FAILED
    if not SpellImport.objects.filter(pk=job.pk, status=SpellImport.Status.CHECKED).exists():
        return jobs.Claim.SKIPPED  # the sweep gave the check to another worker meanwhile
    path.unlink(missing_ok=True)
    return SpellImport.Status.CHECKED


def cancel_import(spell_import: SpellImport, *, actor: User | None) -> SpellImport:
    """Drop a checked file without importing it. Raises PathwayError unless it is waiting for
    a decision. Audited."""
    with transaction.atomic():
        locked = SpellImport.objects.select_for_update().get(pk=spell_import.pk)
        if locked.status != SpellImport.Status.CHECKED:
            raise PathwayError(_("This file is not waiting to be imported."))
        PendingSpell.objects.filter(spell_import=locked).delete()
        locked.status = SpellImport.Status.CANCELLED
        locked.save(update_fields=["status"])
        audit.record("spellimport.cancelled", locked, actor=actor, trial=locked.trial)
    return locked


def start_check(spell_import: SpellImport) -> None:
    """Check now when the file is small, else on a worker once the upload is committed."""
    if spell_import.file_size <= INLINE_BYTES:
        execute_check(spell_import.pk)
    else:
        jobs.enqueue_on_commit(spell_import)


def start_apply(spell_import: SpellImport) -> None:
    """Import now when the file was small, else on a worker once the decision is committed."""
    if spell_import.file_size <= INLINE_BYTES:
        execute_apply(spell_import.pk)
    else:
        jobs.enqueue_on_commit(spell_import)
