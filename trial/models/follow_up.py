"""The follow-up schedule, each participant's visits, and the daily reminders about them."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from trial.models.participants import Participant
from trial.models.trials import Trial


class VisitDefinition(models.Model):
    """A scheduled follow-up visit, counted in months from randomisation."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="visit_definitions")
    code = models.SlugField(_("code"), max_length=20, help_text=_("E.g. m6."))
    label = models.CharField(_("label"), max_length=100)
    offset_months = models.PositiveSmallIntegerField(_("months after randomisation"))
    window_before_days = models.PositiveSmallIntegerField(
        _("window opens (days before)"), default=14
    )
    window_after_days = models.PositiveSmallIntegerField(
        _("window closes (days after)"), default=30
    )

    class Meta:
        ordering = ["trial", "offset_months"]
        verbose_name = _("follow-up visit")
        verbose_name_plural = _("follow-up schedule")
        constraints = [
            models.UniqueConstraint(fields=["trial", "code"], name="visitdef_unique_code"),
            models.UniqueConstraint(
                fields=["trial", "offset_months"], name="visitdef_unique_offset"
            ),
        ]

    def __str__(self) -> str:
        return self.label


COMING_DUE_DAYS = 7
"""A visit whose window opens within this many days is coming due: on the worklist and in the
caseworkers' daily reminders."""


class VisitQuerySet(models.QuerySet["Visit"]):
    def open(self) -> VisitQuerySet:
        return self.filter(completed_on__isnull=True, missed=False)

    def due_by(self, day: dt.date) -> VisitQuerySet:
        """Open visits whose window has opened by ``day`` (due or overdue)."""
        return self.open().filter(window_start__lte=day)

    def overdue_on(self, day: dt.date) -> VisitQuerySet:
        return self.open().filter(window_end__lt=day)


class Visit(models.Model):
    """One participant's occurrence of a scheduled visit."""

    class Status(models.TextChoices):
        NOT_YET_DUE = "not_yet_due", _("Not yet due")
        DUE = "due", _("Due")
        OVERDUE = "overdue", _("Overdue")
        COMPLETED = "completed", _("Completed")
        MISSED = "missed", _("Missed")

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="visits")
    definition = models.ForeignKey(VisitDefinition, on_delete=models.PROTECT, related_name="+")
    due_on = models.DateField(_("due on"))
    window_start = models.DateField(_("window opens"))
    window_end = models.DateField(_("window closes"))
    completed_on = models.DateField(_("completed on"), null=True, blank=True)
    missed = models.BooleanField(_("missed"), default=False)
    # Asked once per visit, not per instrument (instruments.services.record_assessment).
    contamination_reported = models.BooleanField(
        _("answered yes to the contamination question"),
        null=True,
        blank=True,
        help_text=_("Empty when the trial asks no such question or it was not answered."),
    )

    objects = VisitQuerySet.as_manager()

    class Meta:
        ordering = ["participant", "due_on"]
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        constraints = [
            models.UniqueConstraint(fields=["participant", "definition"], name="visit_once"),
        ]
        indexes = [models.Index(fields=["window_start", "completed_on", "missed"])]

    def __str__(self) -> str:
        return f"{self.participant} {self.definition.code}"

    def status_on(self, day: dt.date) -> Visit.Status:
        if self.completed_on is not None:
            return Visit.Status.COMPLETED
        if self.missed:
            return Visit.Status.MISSED
        if day < self.window_start:
            return Visit.Status.NOT_YET_DUE
        if day <= self.window_end:
            return Visit.Status.DUE
        return Visit.Status.OVERDUE

    @property
    def in_window(self) -> bool | None:
        if self.completed_on is None:
            return None
        return self.window_start <= self.completed_on <= self.window_end


class ReminderDigest(models.Model):
    """One day's reminder e-mail to one caseworker.

    The row is written in the same transaction as the sending, and (user, day) is unique, so
    a schedule that fires twice or a retried task never sends the same day's digest again.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminder_digests"
    )
    day = models.DateField(_("day"))
    visit_count = models.PositiveIntegerField(_("visits listed"))
    sent_at = models.DateTimeField(_("sent"), auto_now_add=True)

    class Meta:
        ordering = ["-day", "user_id"]
        verbose_name = _("reminder digest")
        verbose_name_plural = _("reminder digests")
        constraints = [
            models.UniqueConstraint(fields=["user", "day"], name="reminderdigest_once_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.day:%Y-%m-%d}"
