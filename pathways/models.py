"""Register spells, the trial's state alphabet, register imports and data-quality flags.

A *spell* is a dated episode in one state (work, education, a benefit…) from a register. Monthly
sequences are built from the spells (``pathways.sequences``) and cached; every change to spells,
the alphabet or the sequence settings gives the trial a new ``PathwaySettings.version``, which is
part of the cache key, so a stale sequence is never served.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext_lazy as _

from trial import jobs
from trial.models import Participant, Trial


def new_version() -> str:
    return uuid.uuid4().hex


class PathwaySettings(models.Model):
    """How a trial's monthly sequences are built, and the version of its spell data."""

    class Origin(models.TextChoices):
        RANDOMISATION = "randomisation", _("From each participant's randomisation")
        CALENDAR = "calendar", _("From a calendar month, the same for everyone")

    class MonthRule(models.TextChoices):
        PRIORITY = "priority", _("Highest-priority state with at least one day in the month")
        MAJORITY = "majority", _("State covering most days of the month (ties by priority)")

    trial = models.OneToOneField(Trial, on_delete=models.CASCADE, related_name="pathway_settings")
    origin = models.CharField(
        _("sequences start"), max_length=20, choices=Origin.choices, default=Origin.RANDOMISATION
    )
    calendar_start = models.DateField(
        _("first calendar month"),
        null=True,
        blank=True,
        help_text=_("Only when sequences start from a calendar month; the day is ignored."),
    )
    follow_up_months = models.PositiveSmallIntegerField(
        _("months of follow-up"),
        default=24,
        validators=[MinValueValidator(1), MaxValueValidator(240)],
    )
    month_rule = models.CharField(
        _("state of a month"), max_length=20, choices=MonthRule.choices, default=MonthRule.PRIORITY
    )
    data_until = models.DateField(
        _("register data complete until"),
        null=True,
        blank=True,
        help_text=_("Months starting after this day are shown as not observed. Empty: today."),
    )
    version = models.CharField(max_length=32, default=new_version, editable=False)

    class Meta:
        verbose_name = _("pathway settings")
        verbose_name_plural = _("pathway settings")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(origin="calendar") | models.Q(calendar_start__isnull=False),
                name="pathwaysettings_calendar_has_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trial.code}: {self.get_origin_display()}"


class SpellState(models.Model):
    """One state of a trial's alphabet. A lower ``priority`` number wins overlapping spells."""

    class Detail(models.TextChoices):
        TEXT = "text", _("Free text (e.g. benefit type)")
        OCCUPATION = "occupation", _("Occupation code (STYRK-08)")

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="spell_states")
    code = models.SlugField(
        _("code"), max_length=30, help_text=_("As written in register files, e.g. work.")
    )
    label_en = models.CharField(_("label (English)"), max_length=80)
    label_nb = models.CharField(_("label (Norwegian)"), max_length=80)
    colour = models.CharField(
        _("colour"),
        max_length=7,
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Write the colour as #RRGGBB."))],
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"),
        validators=[MinValueValidator(1)],
        help_text=_("1 is the highest: it wins when spells overlap."),
    )
    detail = models.CharField(
        _("detail"), max_length=20, choices=Detail.choices, default=Detail.TEXT
    )

    class Meta:
        ordering = ["trial", "priority", "code"]
        verbose_name = _("state")
        verbose_name_plural = _("state alphabet")
        constraints = [
            models.UniqueConstraint(fields=["trial", "code"], name="spellstate_unique_code"),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def label(self) -> str:
        """The label in the active language."""
        return self.label_nb if (get_language() or "en").startswith("nb") else self.label_en


class Spell(models.Model):
    """A dated episode in one state; ``ends_on`` empty means still going on.

    The natural key is (participant, state, start, source): a register delivery that closes a
    spell updates its end instead of adding a second spell.
    """

    # The participant's trial, copied for one-query reads of a trial's spells; no database
    # constraint of its own (the participant's is enough), which spares a million-row import
    # one foreign-key check per row.
    trial = models.ForeignKey(
        Trial, on_delete=models.CASCADE, db_constraint=False, related_name="+"
    )
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="spells")
    state = models.ForeignKey(SpellState, on_delete=models.PROTECT, related_name="spells")
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"), null=True, blank=True, help_text=_("Empty: open."))
    source = models.CharField(_("source"), max_length=60)
    detail = models.CharField(_("detail"), max_length=60, blank=True)
    spell_import = models.ForeignKey(
        "SpellImport",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_constraint=False,
        related_name="+",
    )

    class Meta:
        ordering = ["participant", "starts_on", "state"]
        verbose_name = _("spell")
        verbose_name_plural = _("spells")
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "state", "starts_on", "source"], name="spell_natural_key"
            ),
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="spell_ends_after_start",
            ),
        ]
        indexes = [models.Index(fields=["trial", "participant"])]

    def __str__(self) -> str:
        end = f"{self.ends_on:%Y-%m-%d}" if self.ends_on else "…"
        return f"{self.state_id} {self.starts_on:%Y-%m-%d}–{end}"


class SpellImport(jobs.Job):
    """One uploaded register file: who, when, its hash, and what checking and importing found.

    Checking and importing are each a job (``trial.jobs``), on a worker unless the file is
    small. The file itself is kept (encrypted) only until it is checked; the valid rows wait in
    ``PendingSpell`` by participant id, without personal numbers, until imported or cancelled.
    """

    Status = jobs.ImportStatus
    STEPS = jobs.import_steps(
        check="pathways.tasks.check_spell_import", apply="pathways.tasks.apply_spell_import"
    )
    QUEUE_DOWN = gettext_noop(
        "The task queue could not be reached, so the file was not processed. Try again later, "
        "or ask the administrator to check the Celery broker."
    )
    # These two are shown inside "The file could not be processed (...)".
    WORKER_LOST = gettext_noop(
        "the worker processing it stopped, killed or out of memory; upload the file again"
    )
    NOT_TAKEN = gettext_noop(
        "no worker took it up in time, the task queue may have lost it; upload the file again"
    )

    @classmethod
    def folder(cls) -> Path:
        """Where uploaded files wait, encrypted, to be checked (``importing.upload_path``)."""
        return Path(settings.FILES_ROOT) / "pathways"

    @classmethod
    def housekeeping(cls, now: dt.datetime) -> int:
        """The job sweep's chore for register imports: a file whose check a worker committed
        but did not remove (it stopped in between) is removed. Changes no import."""
        needed = [*cls.queued_statuses(), *cls.running_statuses()]
        cls.drop_files_left(cls.folder(), kept_while=needed)
        return 0

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="spell_imports")
    file_name = models.CharField(_("file"), max_length=200)
    file_sha256 = models.CharField(_("SHA-256 of the file"), max_length=64)
    file_size = models.PositiveBigIntegerField(_("bytes"), default=0)
    default_source = models.CharField(_("source"), max_length=60)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=jobs.import_choices(ends=Status.CANCELLED),
        default=Status.CHECK_QUEUED,
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    uploaded_by_name = models.CharField(_("uploaded by"), max_length=150)
    uploaded_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_valid = models.PositiveIntegerField(_("valid rows"), default=0)
    rows_invalid = models.PositiveIntegerField(_("rows with errors"), default=0)
    rows_new = models.PositiveIntegerField(_("new spells"), default=0)
    rows_changed = models.PositiveIntegerField(_("changed spells"), default=0)
    rows_unchanged = models.PositiveIntegerField(_("unchanged spells"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    error_counts = models.JSONField(_("errors by kind"), default=dict, blank=True)
    skip_invalid = models.BooleanField(_("rows with errors skipped"), default=False)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    imported_at = models.DateTimeField(_("imported"), null=True, blank=True)
    rows_written = models.PositiveIntegerField(_("spells written"), default=0)
    done = models.PositiveSmallIntegerField(default=0)
    step = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        verbose_name = _("register import")
        verbose_name_plural = _("register imports")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.uploaded_at:%Y-%m-%d %H:%M})"

    @classmethod
    def queued_limit(cls) -> dt.timedelta:
        return dt.timedelta(minutes=settings.IMPORT_QUEUED_MINUTES)

    def claimed(self, now: dt.datetime) -> list[str]:
        self.step, self.done = "", 0
        return ["step", "done"]

    def discard(self) -> None:
        from pathways import importing

        importing.discard(self.pk)

    @property
    def rows_accepted(self) -> int:
        if self.status == SpellImport.Status.DONE:
            return self.rows_valid
        return 0

    @property
    def rows_rejected(self) -> int:
        if self.status == SpellImport.Status.DONE:
            return self.rows_invalid
        return 0


class PendingSpell(models.Model):
    """A checked, valid row of an import, waiting for the data manager's decision.

    A scratch table: written by COPY and emptied when the import is applied or cancelled, so it
    has no foreign-key constraints to check on a million rows.
    """

    spell_import = models.ForeignKey(
        SpellImport, on_delete=models.CASCADE, db_constraint=False, related_name="+"
    )
    line = models.PositiveIntegerField()
    participant = models.ForeignKey(
        Participant, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    state = models.ForeignKey(
        SpellState, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    starts_on = models.DateField()
    ends_on = models.DateField(null=True)
    source = models.CharField(max_length=60)
    detail = models.CharField(max_length=60, blank=True)

    class Meta:
        verbose_name = _("pending spell")
        verbose_name_plural = _("pending spells")

    def __str__(self) -> str:
        return f"{self.spell_import_id}:{self.line}"


class QualityFlag(models.Model):
    """A data-quality problem in a participant's spells, for the data manager to look at.

    Flags are derived from the spells (``services.refresh_flags``): they appear when spells or
    priorities change and disappear when the problem does. A reviewed flag keeps its note.
    """

    class Kind(models.TextChoices):
        EQUAL_PRIORITY = "equal_priority", _("Overlapping spells of equal priority")

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="+")
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="quality_flags"
    )
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    spell = models.ForeignKey(Spell, on_delete=models.CASCADE, related_name="+")
    other_spell = models.ForeignKey(Spell, on_delete=models.CASCADE, related_name="+")
    overlap_from = models.DateField(_("overlap from"))
    overlap_until = models.DateField(_("overlap until"), null=True, blank=True)
    created_at = models.DateTimeField(_("found"), auto_now_add=True)
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        ordering = ["reviewed_at", "participant", "overlap_from"]
        verbose_name = _("data-quality flag")
        verbose_name_plural = _("data-quality flags")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "spell", "other_spell"], name="qualityflag_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.participant}"
