"""Per-trial job exposure matrices. The code list itself is data (occupations.styrk)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from trial.models import Trial


class JobExposureMatrix(models.Model):
    """One imported JEM: where it comes from, under which licence, and whether it is in use.

    A trial uses at most one matrix at a time (``active``); earlier ones stay for the record.
    """

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="job_exposure_matrices")
    name = models.CharField(_("name"), max_length=200)
    version = models.CharField(_("version"), max_length=50)
    source = models.TextField(_("source / citation"), blank=True)
    licence = models.CharField(_("licence"), max_length=200, blank=True)
    illustrative = models.BooleanField(
        _("illustrative only"),
        default=False,
        help_text=_("Made-up scores for demonstration; not for research use."),
    )
    measures = models.JSONField(
        _("measures"), default=dict, help_text=_("Measure code → label, as in the file.")
    )
    active = models.BooleanField(_("in use"), default=False)
    file_hash = models.CharField(_("SHA-256 of the file"), max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("job exposure matrix")
        verbose_name_plural = _("job exposure matrices")
        ordering = ["trial", "-uploaded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["trial", "name", "version"], name="jem_unique_name_version"
            ),
            models.UniqueConstraint(
                fields=["trial"], condition=Q(active=True), name="jem_one_active_per_trial"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    def measure_label(self, measure: str) -> str:
        return str(self.measures.get(measure, measure))


class JEMEntry(models.Model):
    """One score: a code at some level of STYRK-08, a measure, and its score."""

    matrix = models.ForeignKey(JobExposureMatrix, on_delete=models.CASCADE, related_name="entries")
    code = models.CharField(_("STYRK-08 code"), max_length=4)
    level = models.PositiveSmallIntegerField(
        _("level"), validators=[MinValueValidator(1), MaxValueValidator(4)]
    )
    measure = models.CharField(_("measure"), max_length=40)
    score = models.FloatField(_("score"))

    class Meta:
        verbose_name = _("JEM entry")
        verbose_name_plural = _("JEM entries")
        ordering = ["matrix", "measure", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["matrix", "code", "measure"], name="jem_entry_unique_code_measure"
            ),
            models.CheckConstraint(
                condition=Q(level__gte=1) & Q(level__lte=4), name="jem_entry_level_1_to_4"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.measure}={self.score}"
