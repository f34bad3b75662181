"""Browser imports of a trial's CSV files as background jobs: check, then import on the user's
word, each step on a Celery worker unless the files are small.

A check runs the whole import and rolls it back (``services.import_trial(dry_run=True)``),
so its report is exactly what the import would do; the import runs it again for real, in one
transaction. Between the two the files wait on disk, encrypted with the field-encryption keys
(they may hold personal numbers), and they are removed as soon as they are imported, found
invalid, failed, or left waiting for ``IMPORT_KEEP_HOURS``.

Progress goes to the cache, not the database: the rows are written inside the import's
transaction, which the page's polls could not see into.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from trial import audit, jobs
from trial.models import Trial
from trial.services import TrialError
from trialimport import services as importing
from trialimport.models import TrialImport
from trialimport.report import ImportReport
from trialimport.storage import drop_files, files_path, keep, progress_key, read

logger = logging.getLogger(__name__)

# Files up to this size are checked and imported in the request (a few hundred rows, well
# under a second); larger ones on a worker.
INLINE_BYTES = 32 * 1024
# Errors kept with the import for the page; the command line lists them all.
MAX_STORED_ERRORS = 500
Step = TrialImport.Status
_FAILED = gettext_noop("Processing the files failed: %(reason)s")
# The reason shown for an error nobody foresaw (logged with its traceback): never its class name.
UNEXPECTED = gettext_noop(
    "an unexpected error, which has been logged; tell the administrator if it happens again"
)
PERSONAL_NUMBER = re.compile(r"(?<!\d)\d{11}(?!\d)")


def progress_of(trial_import: TrialImport) -> tuple[int, int] | None:
    """(rows dealt with, rows) of a running step, if the worker has said."""
    value = cache.get(progress_key(trial_import.pk))
    return tuple(value) if value else None


# --- asking -----------------------------------------------------------------------------------


def start_check(trial: Trial, files: dict[str, bytes], *, actor: User) -> TrialImport:
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
        keep(trial_import.pk, files)
    except OSError:
        logger.exception("import %s: the files could not be kept", trial_import.pk)
        jobs.fail(trial_import, _(_FAILED) % {"reason": _(UNEXPECTED)})
        trial_import.refresh_from_db()
        return trial_import
    _start(trial_import)
    trial_import.refresh_from_db()
    return trial_import


def confirm(trial_import: TrialImport, *, actor: User) -> TrialImport:
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
        locked.attempts = 0  # a new step, with attempts of its own
        locked.save(update_fields=["status", "imported_by", "heartbeat_at", "attempts"])
    _start(locked)
    locked.refresh_from_db()
    return locked


def _start(trial_import: TrialImport) -> None:
    """Run the step now when the files are small, else on a worker once committed."""
    if trial_import.file_bytes <= INLINE_BYTES:
        execute(trial_import.pk)
    else:
        jobs.enqueue_on_commit(trial_import)


# --- running ----------------------------------------------------------------------------------


def execute(pk: int) -> str:
    """Run the step the import is waiting for (see :func:`_execute`), in the language of the
    user who checked the files: the report's messages are stored as they will be read."""
    language = TrialImport.objects.filter(pk=pk).values_list("language", flat=True).first()
    with translation.override(language or settings.LANGUAGE_CODE):
        return _execute(pk)


def _execute(pk: int) -> str:
    """Run the step the import is waiting for: check the files, or import them.

    Claims the import first (``trial.jobs.claim``), so a second delivery does nothing.
    Whatever goes wrong, the import ends failed with the reason and its files are removed; a
    worker that dies leaves nothing written, and the job sweep runs the step again. Returns
    the final status, or the claim's ``busy``, ``skipped`` or ``missing``.
    """
    claim, trial_import = jobs.claim(TrialImport, pk)
    if trial_import is None:
        return claim
    with jobs.held(trial_import) as mine:
        return _run_step(trial_import, mine)


def _run_step(trial_import: TrialImport, mine: QuerySet[TrialImport]) -> str:
    """The step of a claimed import; ``mine`` matches it while this attempt holds it."""
    pk = trial_import.pk
    checking = trial_import.status == Step.CHECKING
    trial_import = TrialImport.objects.select_related("trial", "uploaded_by", "imported_by").get(
        pk=pk
    )
    last = [-1.0]

    def progress(done: int, total: int) -> None:
        # At most every half second: each is a round trip to the cache.
        now = time.monotonic()
        if now - last[0] >= 0.5 or done == total:
            last[0] = now
            cache.set(progress_key(pk), (done, total), timeout=3600)

    try:
        files = read(pk)
        actor = trial_import.uploaded_by if checking else trial_import.imported_by
        if actor is None:
            raise ValueError("nobody to record the import as")
        # The rows and the import's final status are committed together: a worker killed in
        # between leaves neither, and "nothing was written" holds.
        with transaction.atomic():
            report = importing.import_trial(
                files, actor=actor, trial=trial_import.trial, dry_run=checking, progress=progress
            )
            final = _finish(mine, report, checking)
            if final is None:
                transaction.set_rollback(True)
    except Exception:  # whatever it was, the import must not stay running
        logger.exception("import %s failed", pk)
        jobs.fail(trial_import, _(_FAILED) % {"reason": _(UNEXPECTED)}, rows=mine)
        return Step.FAILED
    finally:
        cache.delete(progress_key(pk))
    if final is None:
        return jobs.Claim.SKIPPED
    if not (final == Step.CHECKED and report.ok and report.created):
        drop_files(pk)  # imported, failed, or nothing to import: the files are not kept
    return final


def _finish(mine: QuerySet[TrialImport], report: ImportReport, checking: bool) -> str | None:
    """Store the step's outcome on the import, if it is still held here; the status, or
    None when it is not (the sweep gave it to another worker)."""
    stored = report.as_json(MAX_STORED_ERRORS, mask=mask_personal_numbers)
    if checking:
        return Step.CHECKED if mine.update(status=Step.CHECKED, report=stored) else None
    now = timezone.now()
    if report.ok:
        done = mine.update(status=Step.DONE, report=stored, imported_at=now, finished_at=now)
        return Step.DONE if done else None
    # The trial changed between the check and the import: nothing was written.
    failed = mine.update(
        status=Step.FAILED,
        report=stored,
        error=_("The trial changed since the files were checked: nothing was written."),
        finished_at=now,
    )
    return Step.FAILED if failed else None


def mask_personal_numbers(text: str) -> str:
    """Error messages are kept with the import: an 11-digit run (a personal number given
    where a study id was expected) is masked."""
    return PERSONAL_NUMBER.sub("•" * 11, text)
