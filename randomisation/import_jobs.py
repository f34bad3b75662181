"""Browser imports of a trial's CSV files as background jobs: check, then import on the user's
word, each step on a Celery worker unless the files are small.

A check runs the whole import and rolls it back (``importing.import_trial(dry_run=True)``),
so its report is exactly what the import would do; the import runs it again for real, in one
transaction. Between the two the files wait on disk, encrypted with the field-encryption keys
(they may hold personal numbers), and they are removed as soon as they are imported, found
invalid, failed, or left waiting for ``IMPORT_KEEP_HOURS``.

Progress goes to the cache, not the database: the rows are written inside the import's
transaction, which the page's polls could not see into.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import re
import time
from functools import partial
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from kombu.exceptions import OperationalError

from randomisation import importing
from randomisation.models import TrialImport
from trial import audit
from trial.models import Trial
from trial.services import TrialError

logger = logging.getLogger(__name__)

# Files up to this size are checked and imported in the request (a few hundred rows, well
# under a second); larger ones on a worker.
INLINE_BYTES = 32 * 1024
# Errors kept with the import for the page; the command line lists them all.
MAX_STORED_ERRORS = 500
QUEUE_DOWN = gettext_noop(
    "The task queue could not be reached, so the files were not processed. Try again later, "
    "or ask the administrator to check the Celery broker."
)
WORKER_LOST = gettext_noop(
    "The worker processing these files stopped (it was killed or ran out of memory); nothing "
    "was written. Check the files again."
)
NOT_TAKEN = gettext_noop(
    "No worker took up these files in time (the task queue may have lost them); nothing was "
    "written. Check the files again."
)
Step = TrialImport.Status
_FAILED = gettext_noop("Processing the files failed: %(reason)s")
# The reason shown for an error nobody foresaw (logged with its traceback): never its class name.
UNEXPECTED = gettext_noop(
    "an unexpected error, which has been logged; tell the administrator if it happens again"
)
PERSONAL_NUMBER = re.compile(r"(?<!\d)\d{11}(?!\d)")


def files_path(pk: int) -> Path:
    return Path(settings.FILES_ROOT) / "imports" / f"import-{pk}.bin"


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.FIELD_ENCRYPTION_KEYS])


def _keep(pk: int, files: dict[str, bytes]) -> None:
    payload = {name: base64.b64encode(data).decode() for name, data in files.items()}
    path = files_path(pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(_fernet().encrypt(json.dumps(payload).encode()))
    os.replace(temporary, path)


def _read(pk: int) -> dict[str, bytes]:
    payload = json.loads(_fernet().decrypt(files_path(pk).read_bytes()))
    return {name: base64.b64decode(data) for name, data in payload.items()}


def _drop(pk: int) -> None:
    files_path(pk).unlink(missing_ok=True)


def progress_key(pk: int) -> str:
    return f"randomisation:import-progress:{pk}"


def progress_of(trial_import: TrialImport) -> tuple[int, int] | None:
    """(rows dealt with, rows) of a running step, if the worker has said."""
    value = cache.get(progress_key(trial_import.pk))
    return tuple(value) if value else None  # type: ignore[return-value]


# --- asking -----------------------------------------------------------------------------------


def start_check(trial: Trial, files: dict[str, bytes], *, actor: AbstractBaseUser) -> TrialImport:
    """Record the upload (who, when, each file's SHA-256; audited) and keep the files,
    encrypted, until imported; then check them, in the request when small, else on a worker
    once the row is committed. Nothing else is written."""
    size = sum(len(data) for data in files.values())
    with transaction.atomic():
        trial_import = TrialImport.objects.create(
            trial=trial,
            file_names=sorted(files),
            file_bytes=size,
            uploaded_by=actor,
            uploaded_by_name=actor.get_username(),
            heartbeat_at=timezone.now(),
            language=translation.get_language() or settings.LANGUAGE_CODE,
        )
        audit.record(
            "trialimport.uploaded",
            trial_import,
            actor=actor,
            trial=trial,
            data={"files": {n: hashlib.sha256(d).hexdigest() for n, d in sorted(files.items())}},
        )
    # Written once the row is committed, so no file outlives a rolled-back upload.
    try:
        _keep(trial_import.pk, files)
    except OSError:
        logger.exception("import %s: the files could not be kept", trial_import.pk)
        _fail(trial_import.pk, _(_FAILED) % {"reason": _(UNEXPECTED)})
        trial_import.refresh_from_db()
        return trial_import
    _start(trial_import)
    trial_import.refresh_from_db()
    return trial_import


def confirm(trial_import: TrialImport, *, actor: AbstractBaseUser) -> TrialImport:
    """The user's word to import checked files: the import runs in the request when they are
    small, else on a worker. Raises TrialError unless the files were checked, valid, have rows
    to create, and are still kept."""
    with transaction.atomic():
        locked = TrialImport.objects.select_for_update().get(pk=trial_import.pk)
        if not locked.importable or not files_path(locked.pk).exists():
            raise TrialError(
                _("These files are not waiting to be imported; choose them and check again.")
            )
        locked.status = Step.IMPORT_QUEUED
        locked.imported_by = actor
        locked.heartbeat_at = timezone.now()
        locked.save(update_fields=["status", "imported_by", "heartbeat_at"])
    _start(locked)
    locked.refresh_from_db()
    return locked


def _start(trial_import: TrialImport) -> None:
    """Run the step now when the files are small, else on a worker once committed."""
    if trial_import.file_bytes <= INLINE_BYTES:
        execute(trial_import.pk)
    else:
        transaction.on_commit(partial(_enqueue, trial_import.pk))


def _enqueue(pk: int) -> None:
    from randomisation.tasks import run_import

    try:
        run_import.delay(pk)
    except OperationalError:
        logger.warning("import %s: broker unreachable", pk, exc_info=True)
        _fail(pk, _(QUEUE_DOWN))


def _fail(pk: int, reason: str, *, only_if: str | None = None) -> bool:
    """Mark the import failed and remove its files; with ``only_if``, only while it still has
    that status. Returns whether it was marked."""
    rows = TrialImport.objects.filter(pk=pk)
    if only_if is not None:
        rows = rows.filter(status=only_if)
    if not rows.update(status=Step.FAILED, failure=reason):
        return False
    _drop(pk)
    cache.delete(progress_key(pk))
    return True


# --- running ----------------------------------------------------------------------------------

CLAIMS = {Step.CHECK_QUEUED: Step.CHECKING, Step.IMPORT_QUEUED: Step.IMPORTING}


def execute(pk: int) -> str:
    """Run the step the import is waiting for (see :func:`_execute`), in the language of the
    user who checked the files: the report's messages are stored as they will be read."""
    language = TrialImport.objects.filter(pk=pk).values_list("language", flat=True).first()
    with translation.override(language or settings.LANGUAGE_CODE):
        return _execute(pk)


def _execute(pk: int) -> str:
    """Run the step the import is waiting for: check the files, or import them.

    Claims the import first (queued → running, in one statement), so a second delivery does
    nothing. Whatever goes wrong, the import ends failed with the reason and its files are
    removed; it is never left running (``fail_stale_imports`` covers a worker that dies).
    Returns the final status, ``skipped`` or ``missing``.
    """
    row = TrialImport.objects.filter(pk=pk)
    current = row.values_list("status", flat=True).first()
    if current is None:
        logger.warning("import %s does not exist", pk)
        return "missing"
    if current not in CLAIMS:
        return "skipped"
    running = CLAIMS[current]  # type: ignore[index]
    if not row.filter(status=current).update(status=running, heartbeat_at=timezone.now()):
        return "skipped"
    trial_import = TrialImport.objects.select_related("trial", "uploaded_by", "imported_by").get(
        pk=pk
    )
    checking = running == Step.CHECKING
    last = [-1.0]

    def progress(done: int, total: int) -> None:
        # At most every half second: each is a round trip to the cache.
        now = time.monotonic()
        if now - last[0] >= 0.5 or done == total:
            last[0] = now
            cache.set(progress_key(pk), (done, total), timeout=3600)

    mine = row.filter(status=running)  # unless the sweep has failed it meanwhile
    try:
        files = _read(pk)
        actor = trial_import.uploaded_by if checking else trial_import.imported_by
        if actor is None:
            raise ValueError("nobody to record the import as")
        # The rows and the import's final status are committed together: a worker killed in
        # between leaves neither, and the sweep's "nothing was written" holds.
        with transaction.atomic():
            report = importing.import_trial(
                files, actor=actor, trial=trial_import.trial, dry_run=checking, progress=progress
            )
            final = _finish(mine, report, checking)
            if final is None:
                transaction.set_rollback(True)
    except Exception:  # whatever it was, the import must not stay running
        logger.exception("import %s failed", pk)
        _fail(pk, _(_FAILED) % {"reason": _(UNEXPECTED)}, only_if=running)
        return Step.FAILED
    finally:
        cache.delete(progress_key(pk))
    if final is None:
        return "skipped"
    if not (final == Step.CHECKED and report.ok and report.created):
        _drop(pk)  # imported, failed, or nothing to import: the files are not kept
    return final


def _finish(
    mine: QuerySet[TrialImport], report: importing.ImportReport, checking: bool
) -> str | None:
    """Store the step's outcome on the import, if it is still running here; the status, or
    None when it is not (the sweep failed it)."""
    stored = report.as_json(MAX_STORED_ERRORS, mask=mask_personal_numbers)
    if checking:
        return Step.CHECKED if mine.update(status=Step.CHECKED, report=stored) else None
    if report.ok:
        done = mine.update(status=Step.DONE, report=stored, imported_at=timezone.now())
        return Step.DONE if done else None
    # The trial changed between the check and the import: nothing was written.
    failed = mine.update(
        status=Step.FAILED,
        report=stored,
        failure=_("The trial changed since the files were checked: nothing was written."),
    )
    return Step.FAILED if failed else None


def mask_personal_numbers(text: str) -> str:
    """Error messages are kept with the import: an 11-digit run (a personal number given
    where a study id was expected) is masked."""
    return PERSONAL_NUMBER.sub("•" * 11, text)


def fail_stale_imports(now: dt.datetime | None = None) -> int:
    """Housekeeping, safe to repeat; returns how many imports it changed.

    A step queued or running ``IMPORT_STALE_MINUTES`` after it was asked for or started has
    lost its message or its worker (the task's hard time limit is shorter): failed, files
    removed. Checked files not imported for ``IMPORT_KEEP_HOURS`` are removed and the import
    marked expired.
    """
    now = now or timezone.now()
    changed = 0
    stale = now - dt.timedelta(minutes=settings.IMPORT_STALE_MINUTES)
    running = TrialImport.objects.filter(
        status__in=[Step.CHECK_QUEUED, Step.CHECKING, Step.IMPORT_QUEUED, Step.IMPORTING]
    ).filter(Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True))
    for pk, status, language in running.values_list("pk", "status", "language"):
        reason = NOT_TAKEN if status in (Step.CHECK_QUEUED, Step.IMPORT_QUEUED) else WORKER_LOST
        with translation.override(language):
            # Only if it is still as seen: a worker that finished meanwhile keeps its outcome.
            changed += _fail(pk, _(reason), only_if=status)
    kept = now - dt.timedelta(hours=settings.IMPORT_KEEP_HOURS)
    waiting = TrialImport.objects.filter(status=Step.CHECKED, uploaded_at__lt=kept)
    for pk in waiting.values_list("pk", flat=True):
        # A confirmation that got in first keeps its files.
        if TrialImport.objects.filter(pk=pk, status=Step.CHECKED).update(status=Step.EXPIRED):
            _drop(pk)
            changed += 1
    return changed
