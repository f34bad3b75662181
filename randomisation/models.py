"""Randomisation schemes, their sealed lists, and the append-only, hash-chained allocation log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from trial import jobs
from trial.models import Arm, Participant, Site, Trial


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


class AllocationQuerySet(models.QuerySet["Allocation"]):
    def individual(self) -> AllocationQuerySet:
        return self.filter(participant__isnull=False)


class Allocation(models.Model):
    """One allocation, chained to the one before it by hash. Rows are never updated or deleted
    (a database trigger refuses it); corrections are new records that point back."""

    class Source(models.TextChoices):
        SYSTEM = "system", _("Randomised in the system")
        CLUSTER = "cluster", _("Took the site's arm")
        MANUAL = "manual", _("Manual randomisation (offline)")
        IMPORTED = "imported", _("Imported from an earlier system")

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="allocations")
    sequence = models.PositiveIntegerField(_("sequence number"))
    scheme = models.ForeignKey(
        Scheme, on_delete=models.PROTECT, null=True, blank=True, related_name="allocations"
    )
    participant = models.OneToOneField(
        Participant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="allocation",
    )
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, null=True, blank=True, related_name="allocations"
    )
    stratum = models.CharField(_("stratum"), max_length=300, blank=True)
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="allocations")
    slot_position = models.PositiveIntegerField(null=True, blank=True)
    details: models.JSONField[dict[str, Any]] = models.JSONField(default=dict, blank=True)
    allocated_on = models.DateField(_("randomised on"))
    created_at = models.DateTimeField(_("recorded at"))
    allocated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    allocated_by_name = models.CharField(_("by"), max_length=150)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    reference = models.CharField(_("envelope or list reference"), max_length=100, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    # NULL, not "", for "no key", so that the partial unique constraint ignores them.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # HMAC-SHA256 of ``hash`` under ALLOCATION_CHAIN_KEYS (randomisation.chain), and that key's
    # fingerprint. Empty on allocations made before the key existed (an anchor covers them).
    mac = models.CharField(max_length=64, blank=True, default="")
    mac_key = models.CharField(max_length=16, blank=True, default="")

    objects = AllocationQuerySet.as_manager()

    class Meta:
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        constraints = [
            models.UniqueConstraint(
                fields=["trial", "sequence"], name="allocation_sequence_unique"
            ),
            models.UniqueConstraint(
                fields=["trial", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="allocation_idempotency_unique",
            ),
            models.UniqueConstraint(
                fields=["trial", "site"],
                condition=Q(participant__isnull=True),
                name="allocation_one_per_site",
            ),
            models.CheckConstraint(
                condition=Q(participant__isnull=False) | Q(site__isnull=False),
                name="allocation_has_unit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trial.code} #{self.sequence}"

    @property
    def unit(self) -> str:
        if self.participant is not None:
            return f"participant:{self.participant.study_id}"
        return f"site:{self.site.code}"  # type: ignore[union-attr]  # a participant's or a site's


class FactorCount(models.Model):
    """Running totals for minimisation: allocations per arm at each level of each factor.

    Derived data, kept in step under the trial's lock so that minimisation reads a few rows
    instead of scanning every earlier allocation; ``verify`` recomputes it from the log.
    """

    scheme = models.ForeignKey(Scheme, on_delete=models.PROTECT, related_name="factor_counts")
    factor = models.CharField(max_length=40)
    level = models.CharField(max_length=100)
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="+")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "factor", "level", "arm"], name="factorcount_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.factor}={self.level} {self.arm.code}: {self.count}"


class AllocationFlag(models.Model):
    """A note against an allocation that leaves it standing ("randomised in error")."""

    class Kind(models.TextChoices):
        IN_ERROR = "in_error", _("Randomised in error")

    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, related_name="flags")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    reason = models.TextField(_("reason"))
    flagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    flagged_by_name = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: #{self.allocation.sequence}"


class ChainAnchor(models.Model):
    """A MAC under the chain key over the head of a trial's allocation chain at one allocation:
    it vouches for that allocation and every one before it. Made once for chains from before
    the key existed, and when the key is rotated (randomisation.chain). Append-only."""

    class Reason(models.TextChoices):
        UPGRADE = "upgrade", _("Chain from before the key was introduced")
        ROTATION = "rotation", _("Anchored under a new key")
        NEW_WITNESS = "witness", _("New witness after a restore")

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="chain_anchors")
    sequence = models.PositiveIntegerField(_("sequence number"))
    head = models.CharField(max_length=64)
    reason = models.CharField(_("reason"), max_length=10, choices=Reason.choices)
    key = models.CharField(max_length=16)
    mac = models.CharField(max_length=64)
    created_at = models.DateTimeField(_("anchored at"))
    created_by_name = models.CharField(max_length=150)

    def __str__(self) -> str:
        return f"{self.trial.code} anchor at #{self.sequence}"


class Unblinding(models.Model):
    """An emergency unblinding of one participant: who, when, why."""

    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, related_name="unblindings")
    reason = models.TextField(_("reason"))
    unblinded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    unblinded_by_name = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"#{self.allocation.sequence} unblinded by {self.unblinded_by_name}"


class SimulationRun(jobs.Job):
    """A background simulation of a scheme over many virtual trials (a job, ``trial.jobs``)."""

    Status = jobs.Status
    STEPS = {
        Status.QUEUED: jobs.Step(running=Status.RUNNING, task="randomisation.tasks.run_simulation")
    }
    QUEUE_DOWN = gettext_noop(
        "The task queue could not be reached, so the simulation was not started. "
        "Try again later, or ask the administrator to check the Celery broker."
    )
    WORKER_LOST = gettext_noop(
        "The worker running this simulation stopped (it was killed or ran out of memory) and "
        "the run was not resumed. Run the simulation again."
    )
    NOT_TAKEN = gettext_noop(
        "No worker started this simulation: the task queue lost it, or no worker is running. "
        "Run the simulation again."
    )

    scheme = models.ForeignKey(Scheme, on_delete=models.CASCADE, related_name="simulations")
    parameters: models.JSONField[dict[str, Any]] = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    result: models.JSONField[dict[str, Any]] = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.scheme} simulation {self.pk}"

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    def claimed(self, now: dt.datetime) -> list[str]:
        self.done = 0  # the run starts again from its seed
        return ["done"]


class TrialImport(jobs.Job):
    """One import of CSV files into a trial from the browser: checked, then imported on the
    user's word, each step a job (``trial.jobs``) on a worker unless the files are small.

    The files are kept encrypted on disk (``import_jobs.files_path``) only while they wait:
    they are removed once imported, failed, or left unimported for ``IMPORT_KEEP_HOURS``.
    """

    class Status(models.TextChoices):
        CHECK_QUEUED = "check_queued", _("Waiting to be checked")
        CHECKING = "checking", _("Being checked")
        CHECKED = "checked", _("Checked")
        IMPORT_QUEUED = "import_queued", _("Waiting to be imported")
        IMPORTING = "importing", _("Being imported")
        DONE = "done", _("Imported")
        EXPIRED = "expired", _("Not imported; the files were removed")
        FAILED = "failed", _("Failed")

    STEPS = {
        Status.CHECK_QUEUED: jobs.Step(Status.CHECKING, "randomisation.tasks.run_import"),
        Status.IMPORT_QUEUED: jobs.Step(Status.IMPORTING, "randomisation.tasks.run_import"),
    }
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
        _("status"), max_length=20, choices=Status.choices, default=Status.CHECK_QUEUED
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

    def __str__(self) -> str:
        return f"{self.trial} import {self.pk}"

    @classmethod
    def queued_limit(cls) -> dt.timedelta:
        return dt.timedelta(minutes=settings.IMPORT_QUEUED_MINUTES)

    @classmethod
    def housekeeping(cls, now: dt.datetime) -> int:
        from randomisation import import_jobs

        return import_jobs.expire_waiting(now)

    def discard(self) -> None:
        from randomisation import import_jobs

        import_jobs.drop_files(self.pk)

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
