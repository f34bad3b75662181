"""The browser import of a trial's CSV files as a job (``trial.jobs``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from trial import jobs
from trial.models import Trial
from trialimport import storage


class TrialImport(jobs.Job):
    """One import of CSV files into a trial from the browser: checked, then imported on the
    user's word, each step a job (``trial.jobs``) on a worker unless the files are small.

    The files are kept encrypted on disk (``trialimport.jobs.files_path``) only while they
    wait: they are removed once imported, failed, or left unimported for ``IMPORT_KEEP_HOURS``.
    The table keeps the name it had when the model lived in ``randomisation``.
    """

    Status = jobs.ImportStatus
    STEPS = jobs.import_steps(
        check="trialimport.tasks.run_import", apply="trialimport.tasks.run_import"
    )
    QUEUE_DOWN = gettext_noop(
        "The task queue could not be reached, so the files were not processed. Try again "
        "later, or ask the administrator to check the Celery broker."
    )
    WORKER_LOST = gettext_noop(
        "The worker processing these files stopped (it was killed or ran out of memory); "
        "nothing was written. Check the files again."
    )
    NOT_TAKEN = gettext_noop(
        "No worker took up these files in time (the task queue may have lost them); nothing "
        "was written. Check the files again."
    )

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="imports")
    file_names: models.JSONField[list[str]] = models.JSONField(_("files"), default=list)
    file_bytes = models.PositiveBigIntegerField(_("bytes"), default=0)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=jobs.import_choices(ends=Status.EXPIRED),
        default=Status.CHECK_QUEUED,
    )
    # ImportReport.as_json() of the check, then of the import; its messages (and the error)
    # in the language of the user who checked the files, which the worker switches to.
    report: models.JSONField[dict[str, Any]] = models.JSONField(default=dict, blank=True)
    language = models.CharField(max_length=10, default=settings.LANGUAGE_CODE)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    uploaded_by_name = models.CharField(_("checked by"), max_length=150)
    uploaded_at = models.DateTimeField(_("checked"), auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    imported_at = models.DateTimeField(_("imported"), null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        verbose_name = _("data import")
        verbose_name_plural = _("data imports")
        db_table = "randomisation_trialimport"

    def __str__(self) -> str:
        return f"{self.trial} import {self.pk}"

    @classmethod
    def queued_limit(cls) -> dt.timedelta:
        return dt.timedelta(minutes=settings.IMPORT_QUEUED_MINUTES)

    @classmethod
    def housekeeping(cls, now: dt.datetime) -> int:
        """The job sweep's chore for imports: checked files not imported for
        ``IMPORT_KEEP_HOURS`` are removed and the import marked expired; files an ended import
        left behind are removed. Safe to repeat; returns how many imports it changed."""
        changed = 0
        kept = now - dt.timedelta(hours=settings.IMPORT_KEEP_HOURS)
        waiting = cls.objects.filter(status=cls.Status.CHECKED, uploaded_at__lt=kept)
        for pk in waiting.values_list("pk", flat=True):
            # A confirmation that got in first keeps its files.
            expired = cls.objects.filter(pk=pk, status=cls.Status.CHECKED).update(
                status=cls.Status.EXPIRED, finished_at=timezone.now()
            )
            if expired:
                storage.drop_files(pk)
                changed += 1
        needed = [cls.Status.CHECKED, *cls.queued_statuses(), *cls.running_statuses()]
        cls.drop_files_left(storage.folder(), kept_while=needed)
        return changed

    def discard(self) -> None:
        storage.drop_files(self.pk)

    @property
    def importable(self) -> bool:
        """Checked, valid and with rows to create (the files are kept until imported or
        expired)."""
        report = self.report
        return (
            self.status == self.Status.CHECKED
            and bool(report.get("ok"))
            and bool(report.get("created"))
        )
