"""Randomisation schemes and their sealed lists."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from trial.models import Arm, Trial


class SchemeManager(models.Manager["Scheme"]):
    def current_for(self, trial: Trial) -> Scheme | None:
        """The newest scheme version of the trial (locked or draft).

        Read through ``trial.schemes`` so that the scheme's ``trial`` is the caller's object."""
        return trial.schemes.order_by("-version").first()

    def locked_for(self, trial: Trial) -> Scheme | None:
        """The trial's newest locked scheme version (written out: every randomisation reads
        it)."""
        found = self.raw(
            "SELECT * FROM randomisation_scheme WHERE trial_id = %s AND status = %s"
            " ORDER BY version DESC LIMIT 1",
            [trial.pk, Scheme.Status.LOCKED],
        )
        scheme = next(iter(found), None)
        if scheme is not None:
            scheme.trial = trial
        return scheme


class Scheme(models.Model):
    """How a trial allocates. Versioned; editable while a draft, immutable once locked."""

    class Method(models.TextChoices):
        SIMPLE = "simple", _("Simple randomisation")
        BLOCKS = "blocks", _("Permuted blocks of varying size")
        MINIMISATION = "minimisation", _("Minimisation (Pocock–Simon)")
        CLUSTER_STRATIFIED = "cluster_stratified", _("Sites: stratified")
        CLUSTER_PAIRS = "cluster_pairs", _("Sites: pair-matched")
        CLUSTER_CONSTRAINED = "cluster_constrained", _("Sites: covariate-constrained")
        STEPPED_WEDGE = "stepped_wedge", _("Sites: stepped wedge")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        LOCKED = "locked", _("Locked")

    class Measure(models.TextChoices):
        RANGE = "range", _("Range")
        VARIANCE = "variance", _("Variance")

    CLUSTER_METHODS = frozenset(
        {
            Method.CLUSTER_STRATIFIED,
            Method.CLUSTER_PAIRS,
            Method.CLUSTER_CONSTRAINED,
            Method.STEPPED_WEDGE,
        }
    )

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="schemes")
    version = models.PositiveSmallIntegerField(_("version"), default=1)
    method = models.CharField(_("method"), max_length=30, choices=Method.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    block_sizes: models.JSONField[list[int]] = models.JSONField(
        _("block sizes"), default=list, blank=True
    )
    stratify_by_site = models.BooleanField(_("stratify by site"), default=False)
    strata_covariates: models.JSONField[list[str]] = models.JSONField(
        _("stratification factors"), default=list, blank=True
    )
    minimisation_factors: models.JSONField[list[dict[str, Any]]] = models.JSONField(
        _("minimisation factors and weights"), default=list, blank=True
    )
    p_best = models.DecimalField(
        _("probability of the minimising arm"), max_digits=3, decimal_places=2, default=0.8
    )
    imbalance_measure = models.CharField(
        _("imbalance measure"), max_length=10, choices=Measure.choices, default=Measure.RANGE
    )
    # Cluster designs: which site characteristics to stratify or balance on.
    site_strata_field = models.CharField(_("site stratification"), max_length=40, blank=True)
    site_pairs: models.JSONField[list[list[str]]] = models.JSONField(
        _("site pairs"), default=list, blank=True
    )
    site_covariates: models.JSONField[dict[str, dict[str, float]]] = models.JSONField(
        _("site covariates"), default=dict, blank=True
    )
    constraint_covariates: models.JSONField[list[str]] = models.JSONField(
        _("site covariates to balance"), default=list, blank=True
    )
    constraint_cutoff = models.DecimalField(
        _("keep the best share of candidate allocations"),
        max_digits=4,
        decimal_places=3,
        default=0.1,
    )
    steps = models.PositiveSmallIntegerField(_("number of steps"), null=True, blank=True)
    first_step_on = models.DateField(_("first crossover date"), null=True, blank=True)
    step_length_months = models.PositiveSmallIntegerField(
        _("months between steps"), null=True, blank=True
    )
    notes = models.TextField(_("notes"), blank=True)
    seed_encrypted = models.TextField(editable=False, blank=True)
    commitment_hash = models.CharField(_("commitment hash"), max_length=64, blank=True)
    commitment: models.JSONField[dict[str, Any]] = models.JSONField(
        _("committed content"), default=dict, blank=True, editable=False
    )
    locked_at = models.DateTimeField(_("locked at"), null=True, blank=True)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    AUDIT_EXCLUDE = frozenset({"seed_encrypted"})

    objects = SchemeManager()

    class Meta:
        verbose_name = _("randomisation scheme")
        verbose_name_plural = _("randomisation schemes")
        constraints = [
            models.UniqueConstraint(fields=["trial", "version"], name="scheme_version_unique"),
            models.CheckConstraint(
                condition=Q(p_best__gte=0.5) & Q(p_best__lte=1),
                name="scheme_p_best_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trial.code} v{self.version} ({self.get_method_display()})"

    @property
    def is_cluster(self) -> bool:
        return self.method in self.CLUSTER_METHODS

    @property
    def is_locked(self) -> bool:
        return self.status == self.Status.LOCKED

    @property
    def strata_factors(self) -> list[str]:
        """Factors defining a stratum, in a fixed order: the site first, then covariates."""
        if self.method != self.Method.BLOCKS:
            return []
        return (["site"] if self.stratify_by_site else []) + list(self.strata_covariates)


class BlockSlot(models.Model):
    """One slot of a stratum's sealed allocation list. Used once, never changed afterwards."""

    scheme = models.ForeignKey(Scheme, on_delete=models.PROTECT, related_name="slots")
    stratum = models.CharField(max_length=300)
    position = models.PositiveIntegerField()
    block_number = models.PositiveIntegerField()
    block_size = models.PositiveSmallIntegerField()
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="+")
    used = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "stratum", "position"], name="slot_position_unique"
            )
        ]
        indexes = [
            models.Index(
                fields=["scheme", "stratum", "position"],
                condition=Q(used=False),
                name="slot_unused_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.stratum} #{self.position}"
