"""Trial-defined instruments, their versions, which visits ask them, and the answers.

Storage (docs/decisions.md, "Instruments: one JSON document per instrument and visit"): an
instrument version's items live in one JSON definition (``instruments.definition``), and one
visit's answers to one instrument are one row with a JSON document of clean values, a separate
document of missing-data codes, and the derived scale scores. Reports read one row per visit
and instrument (40,000 rows for 10,000 participants and 4 visits), not one per item.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Count, Prefetch
from django.utils.translation import gettext_lazy as _

from instruments.definition import Definition
from trial.models import AuditEvent, Trial, Visit, VisitDefinition

AUDIT_TARGET_TYPES = ("instruments.assessment", "trial.assessment")
"""The audit trail's names for an assessment: the old fixed-column assessments moved into this
table with their ids (``instruments/0002``), and their earlier events name ``trial.assessment``."""


class InstrumentQuerySet(models.QuerySet["Instrument"]):
    def for_listing(self) -> InstrumentQuerySet:
        """In the trial's order, each with its answer count (``answer_count``), its versions
        in order and the visits that ask it, in the visits' order (the setup list and API)."""
        return (
            self.annotate(answer_count=Count("assessments", distinct=True))
            .prefetch_related(
                Prefetch("versions", queryset=InstrumentVersion.objects.order_by("number")),
                Prefetch(
                    "visit_links",
                    queryset=VisitInstrument.objects.select_related("visit_definition").order_by(
                        "visit_definition__offset_months"
                    ),
                ),
            )
            .order_by("order", "code")
        )


class Instrument(models.Model):
    """A questionnaire or case report form of one trial, e.g. "Employment and benefits"."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="instruments")
    code = models.SlugField(
        _("code"), max_length=40, help_text=_("Short name used in URLs and file names.")
    )
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    name_nb = models.CharField(_("name (bokmål)"), max_length=200, blank=True)
    builtin = models.CharField(
        _("built-in"),
        max_length=40,
        blank=True,
        help_text=_("The key of the built-in instrument this trial's copy was made from."),
    )
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = InstrumentQuerySet.as_manager()

    class Meta:
        ordering = ["trial", "order", "code"]
        verbose_name = _("instrument")
        verbose_name_plural = _("instruments")
        constraints = [
            models.UniqueConstraint(fields=["trial", "code"], name="instrument_unique_code"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        from django.utils.translation import get_language

        nb = (get_language() or "en")[:2] in {"nb", "no", "nn"}
        first, second = (self.name_nb, self.name_en) if nb else (self.name_en, self.name_nb)
        return first or second or self.code

    def current_version(self) -> InstrumentVersion:
        return self.versions.order_by("-number").first()  # type: ignore[return-value]  # every instrument has a first version


class InstrumentVersion(models.Model):
    """One version of an instrument's items; never changed once answers refer to it."""

    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    definition: models.JSONField[dict[str, Any]] = models.JSONField(_("definition"))
    note = models.CharField(_("what changed"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["instrument", "number"]
        verbose_name = _("instrument version")
        verbose_name_plural = _("instrument versions")
        constraints = [
            models.UniqueConstraint(
                fields=["instrument", "number"], name="instrumentversion_unique_number"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument} v{self.number}"

    @property
    def parsed(self) -> Definition:
        """The definition as dataclasses (parsed once per object)."""
        cached: Definition | None = self.__dict__.get("_parsed")
        if cached is None:
            cached = Definition.from_json(self.definition)
            self.__dict__["_parsed"] = cached
        return cached


class VisitInstrument(models.Model):
    """An instrument asked at a scheduled visit (a visit at month 0 is the baseline)."""

    visit_definition = models.ForeignKey(
        VisitDefinition, on_delete=models.CASCADE, related_name="instrument_links"
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="visit_links")
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    self_completed = models.BooleanField(
        _("answered by the participant"),
        default=False,
        help_text=_(
            "The participant gets a personal link by e-mail or SMS when the visit's window "
            "opens, and answers on their own phone or computer."
        ),
    )

    class Meta:
        ordering = ["visit_definition", "order", "instrument__order"]
        verbose_name = _("instrument at a visit")
        verbose_name_plural = _("instruments at visits")
        constraints = [
            models.UniqueConstraint(
                fields=["visit_definition", "instrument"], name="visitinstrument_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.visit_definition} {self.instrument}"


class AssessmentQuerySet(models.QuerySet["Assessment"]):
    def of_trial(self, trial: Trial) -> AssessmentQuerySet:
        return self.filter(visit__participant__trial=trial)


class Assessment(models.Model):
    """One instrument's answers at one visit.

    ``values`` holds clean answers by variable name (only items that were shown and answered),
    ``missing`` the missing-data code of items answered with one, ``scores`` the scale scores
    derived from ``values`` (recomputed whenever an answer is corrected).
    """

    class Source(models.TextChoices):
        STAFF = "staff", _("Entered by staff")
        PARTICIPANT = "participant", _("Answered by the participant")
        IMPORT = "import", _("Imported")

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="assessments")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="assessments")
    version = models.ForeignKey(
        InstrumentVersion, on_delete=models.PROTECT, related_name="assessments"
    )
    assessed_on = models.DateField(_("assessed on"))
    values: models.JSONField[dict[str, Any]] = models.JSONField(
        _("answers"), default=dict, blank=True
    )
    missing: models.JSONField[dict[str, str]] = models.JSONField(
        _("missing-data codes"), default=dict, blank=True
    )
    scores: models.JSONField[dict[str, Any]] = models.JSONField(
        _("scores"), default=dict, blank=True
    )
    source = models.CharField(
        _("source"), max_length=20, choices=Source.choices, default=Source.STAFF
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AssessmentQuerySet.as_manager()

    class Meta:
        ordering = ["visit", "instrument__order"]
        verbose_name = _("assessment")
        verbose_name_plural = _("assessments")
        constraints = [
            models.UniqueConstraint(fields=["visit", "instrument"], name="assessment_once"),
        ]

    def __str__(self) -> str:
        return f"{self.visit} {self.instrument.code} {self.assessed_on:%Y-%m-%d}"

    def audit_events(self) -> models.QuerySet[AuditEvent]:
        """This assessment's history, oldest first, including events from before it moved
        into the generic store."""
        return AuditEvent.objects.filter(
            target_type__in=AUDIT_TARGET_TYPES, target_id=str(self.pk)
        ).order_by("created_at", "id")
