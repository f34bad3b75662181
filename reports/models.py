"""Statistical analysis plans and report requests (with their files' names and provenance)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from trial import jobs
from trial.models import Trial


class AnalysisPlan(models.Model):
    """One version of a trial's statistical analysis plan (SAP).

    A draft is edited by the statistician and then locked, with a timestamp and a SHA-256 hash
    of its content, before unblinding. A locked plan is never changed: a new version that says
    why (``reason``) supersedes it, and becomes the plan in force once it is locked itself.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        LOCKED = "locked", _("Locked")
        SUPERSEDED = "superseded", _("Superseded")

    class Missing(models.TextChoices):
        COMPLETE_CASE = "complete_case", _("Complete cases (multiple imputation as sensitivity)")
        MULTIPLE_IMPUTATION = (
            "multiple_imputation",
            _("Multiple imputation by chained equations (complete cases as sensitivity)"),
        )

    # The plan's content, in the order the form and the hash take them.
    CONTENT_FIELDS = (
        "primary_outcome",
        "time_point",
        "secondary_outcomes",
        "analysis_model",
        "covariates",
        "missing",
        "subgroups",
        "notes",
    )

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="analysis_plans")
    version = models.PositiveSmallIntegerField(_("version"))
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.DRAFT
    )
    primary_outcome = models.CharField(_("primary outcome"), max_length=40)
    time_point = models.CharField(
        _("time point"),
        max_length=20,
        help_text=_("The follow-up visit the primary analysis uses."),
    )
    secondary_outcomes: models.JSONField[list[str]] = models.JSONField(
        _("secondary outcomes"), default=list, blank=True
    )
    analysis_model = models.TextField(
        _("analysis model"),
        help_text=_(
            # xgettext:no-python-format
            "E.g. logistic regression of the primary outcome on arm, adjusted for the "
            "covariates below; risk difference and odds ratio with 95% confidence intervals."
        ),
    )
    covariates: models.JSONField[list[str]] = models.JSONField(
        _("covariates"), default=list, blank=True
    )
    missing = models.CharField(
        _("missing outcome data"),
        max_length=30,
        choices=Missing.choices,
        default=Missing.COMPLETE_CASE,
    )
    subgroups: models.JSONField[list[str]] = models.JSONField(
        _("subgroups"), default=list, blank=True
    )
    notes = models.TextField(_("other details"), blank=True)
    supersedes = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="superseded_by",
        verbose_name=_("supersedes"),
    )
    reason = models.TextField(_("reason for the new version"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    locked_at = models.DateTimeField(_("locked at"), null=True, blank=True)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    locked_by_name = models.CharField(_("locked by"), max_length=150, blank=True)
    content_hash = models.CharField(_("content hash (SHA-256)"), max_length=64, blank=True)

    class Meta:
        ordering = ["trial", "-version"]
        verbose_name = _("statistical analysis plan")
        verbose_name_plural = _("statistical analysis plans")
        constraints = [
            models.UniqueConstraint(fields=["trial", "version"], name="plan_version_unique"),
            models.UniqueConstraint(
                fields=["trial"], condition=Q(status="locked"), name="plan_one_locked"
            ),
            models.UniqueConstraint(
                fields=["trial"], condition=Q(status="draft"), name="plan_one_draft"
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | (Q(locked_at__isnull=False) & ~Q(content_hash="")),
                name="plan_locked_has_hash",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trial.code} SAP v{self.version} ({self.get_status_display()})"

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    def content(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.CONTENT_FIELDS}


class ReportRequest(jobs.Job):
    """A report someone ordered: what, on which data, its progress, provenance and files.

    A background job (``trial.jobs``): queued, built by a worker under a lease, done or failed.
    """

    Status = jobs.Status
    STEPS = {Status.QUEUED: jobs.Step(running=Status.RUNNING, task="reports.tasks.build_report")}
    QUEUE_DOWN = gettext_noop(
        "The task queue could not be reached, so the report was not started. Try again later, "
        "or ask the administrator to check the Celery broker."
    )
    WORKER_LOST = gettext_noop(
        "The worker building this report stopped (it was killed or ran out of memory) and the "
        "build was not resumed. No file was kept. Order the report again."
    )
    NOT_TAKEN = gettext_noop(
        "No worker started this report: the task queue lost it, or no worker is running. "
        "Order the report again."
    )

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="report_requests")
    kind = models.CharField(_("kind"), max_length=30)
    cut_off = models.DateField(_("data cut-off"))
    options: models.JSONField[dict[str, Any]] = models.JSONField(_("options"), default=dict)
    seed = models.BigIntegerField(_("random seed"))
    blinded = models.BooleanField(_("blinded"), help_text=_("Arms are shown as codes, not names."))
    language = models.CharField(
        _("language"),
        max_length=10,
        choices=settings.LANGUAGES,
        default="en",
        help_text=_(
            "The report's tables, text and figures are in the language of the person who "
            "ordered it; the data sets keep their English variable names."
        ),
    )
    plan = models.ForeignKey(
        AnalysisPlan,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reports",
        verbose_name=_("analysis plan"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    stage = models.CharField(_("stage"), max_length=20, blank=True)
    percent = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    timings: models.JSONField[dict[str, float]] = models.JSONField(default=dict, blank=True)
    snapshot_hash = models.CharField(_("data snapshot hash (SHA-256)"), max_length=64, blank=True)
    versions: models.JSONField[dict[str, str]] = models.JSONField(default=dict, blank=True)
    pdf_file = models.CharField(max_length=200, blank=True)
    zip_file = models.CharField(max_length=200, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    requested_by_name = models.CharField(_("ordered by"), max_length=150)
    created_at = models.DateTimeField(_("ordered"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("report request")
        verbose_name_plural = _("report requests")
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.trial.code} {self.kind} #{self.pk}"

    @property
    def never_queued(self) -> bool:
        """Failed before any worker took it: the task queue could not be reached."""
        return self.status == self.Status.FAILED and self.attempts == 0

    def claimed(self, now: dt.datetime) -> list[str]:
        self.started_at = self.started_at or now
        self.stage, self.percent = "extract", 0
        return ["started_at", "stage", "percent"]

    def discard(self) -> None:
        from reports import services  # the files' names come from the pipeline

        services.remove_files(self)


class AnalysisUnblinding(models.Model):
    """The one event that ends blinding for the analysis of a trial (at most one per trial).

    A coordinator records it once the analysis plan is locked, naming the data cut-off: the
    data at that cut-off are locked by their snapshot hash (the hash every report records),
    so a report built later on the same cut-off shows whether the data changed since. From
    this event on, arm names are shown to every member (``trial.permissions.perms_for``).
    Never changed or removed.
    """

    trial = models.OneToOneField(
        Trial, on_delete=models.PROTECT, related_name="analysis_unblinding"
    )
    plan = models.ForeignKey(
        AnalysisPlan, on_delete=models.PROTECT, related_name="+", verbose_name=_("analysis plan")
    )
    plan_hash = models.CharField(_("plan content hash (SHA-256)"), max_length=64)
    cut_off = models.DateField(_("data cut-off"))
    snapshot_hash = models.CharField(_("data snapshot hash (SHA-256)"), max_length=64)
    reason = models.TextField(_("reason"))
    unblinded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    unblinded_by_name = models.CharField(_("unblinded by"), max_length=150)
    created_at = models.DateTimeField(_("unblinded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("analysis unblinding")
        verbose_name_plural = _("analysis unblindings")

    def __str__(self) -> str:
        return f"{self.trial.code} analysis unblinded by {self.unblinded_by_name}"
