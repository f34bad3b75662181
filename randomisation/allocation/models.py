"""The append-only, hash-chained allocation log: allocations, the minimisation totals kept
beside it, the notes against an allocation (in error, unblinded) and the chain's anchors."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from randomisation.schemes.models import Scheme
from trial.constraints import has_unit, unique_where_set
from trial.models import Arm, Participant, Site, Trial


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
    # HMAC-SHA256 of ``hash`` under ALLOCATION_CHAIN_KEYS (randomisation.allocation.chain), and
    # that key's fingerprint. Empty on allocations made before the key existed (an anchor covers
    # them).
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
            unique_where_set(
                "trial",
                "idempotency_key",
                when="idempotency_key",
                name="allocation_idempotency_unique",
            ),
            models.UniqueConstraint(
                fields=["trial", "site"],
                condition=Q(participant__isnull=True),
                name="allocation_one_per_site",
            ),
            has_unit("allocation_has_unit"),
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
    the key existed, and when the key is rotated (randomisation.allocation.chain). Append-only."""

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
