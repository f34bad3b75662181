"""Unit costs and rates for a trial's economic evaluation, and its settings.

A :class:`UnitCost` row is one dated price: the cost of a staff minute by the logging staff
member's role, of a partner's minute, a fixed cost per site or per participant, or the benefit
paid per month in a register state. Rows of one kind and key may follow each other in time but
never overlap (``economics.services`` refuses it, naming the rows). Each row carries the year of
its prices; the analysis converts every amount to the settings' price year with the price index
kept in :class:`EconomicSettings`.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from trial.models import Arm, Trial


class UnitCost(models.Model):
    class Kind(models.TextChoices):
        STAFF_MINUTE = "staff_minute", _("Staff minute, by role")
        PARTNER_MINUTE = "partner_minute", _("Partner minute, by partner")
        SITE = "site", _("Fixed cost per site")
        PARTICIPANT = "participant", _("Fixed cost per participant")
        BENEFIT = "benefit", _("Benefit per month, by register state")
        EARNINGS = "earnings", _("Earnings per month, by register state")

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="unit_costs")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    key = models.CharField(
        _("key"),
        max_length=40,
        blank=True,
        help_text=_(
            "The role (staff minute), partner (partner minute), site code (site) or state code "
            "(benefit, earnings); empty for a cost per participant."
        ),
    )
    arm = models.ForeignKey(
        Arm,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Fixed costs only: the arm that bears it. Empty: every arm."),
    )
    amount = models.DecimalField(
        _("amount"),
        max_digits=14,
        decimal_places=4,
        validators=[MinValueValidator(Decimal(0))],
    )
    price_year = models.PositiveSmallIntegerField(
        _("price year"), validators=[MinValueValidator(1900), MaxValueValidator(2200)]
    )
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"), null=True, blank=True, help_text=_("Empty: open."))
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["trial", "kind", "key", "valid_from"]
        verbose_name = _("unit cost")
        verbose_name_plural = _("unit costs")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True)
                | models.Q(valid_to__gte=models.F("valid_from")),
                name="unitcost_valid_to_after_from",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="unitcost_amount_not_negative"
            ),
        ]

    def __str__(self) -> str:
        until = f"{self.valid_to:%Y-%m-%d}" if self.valid_to else "…"
        key = self.key or "–"
        arm = f" [{self.arm.code}]" if self.arm_id and self.arm else ""
        return f"{self.kind} {key}{arm} {self.valid_from:%Y-%m-%d}–{until}"


class EconomicSettings(models.Model):
    """How a trial's costs are computed and analysed: one row per trial. Frozen, with the
    unit costs in force, into :class:`PlanUnitCosts` when the analysis plan is locked."""

    class Effect(models.TextChoices):
        MONTHS_IN_WORK = "months_in_work", _("Months in work (register states)")
        PRIMARY_OUTCOME = "primary_outcome", _("The analysis plan's primary outcome")

    class Earnings(models.TextChoices):
        NONE = "none", _("Not counted")
        REGISTER = "register", _("Months in a register state × monthly earnings (unit costs)")

    trial = models.OneToOneField(Trial, on_delete=models.CASCADE, related_name="economic_settings")
    currency = models.CharField(_("currency"), max_length=3, default="NOK")
    price_year = models.PositiveSmallIntegerField(
        _("price year"),
        default=2025,
        validators=[MinValueValidator(1900), MaxValueValidator(2200)],
        help_text=_("Every amount is converted to prices of this year."),
    )
    price_index = models.JSONField(
        _("price index"),
        default=dict,
        blank=True,
        help_text=_('Index by year, e.g. {"2024": 131.8, "2025": 135.9} (consumer prices).'),
    )
    horizon_months = models.PositiveSmallIntegerField(
        _("time horizon (months)"),
        default=24,
        validators=[MinValueValidator(1), MaxValueValidator(240)],
    )
    discount_rate = models.DecimalField(
        _("annual discount rate"),
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.04"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal("0.2"))],
        help_text=_("Applied to costs and effects after the first 12 months; 0.04 is 4 %."),
    )
    work_states = models.CharField(
        _("states counted as work"),
        max_length=200,
        default="work",
        help_text=_("State codes, separated by commas: the effect is months in these states."),
    )
    wtp_max = models.PositiveIntegerField(
        _("highest willingness to pay"),
        default=500_000,
        help_text=_("Per unit of effect (a month in work), for the acceptability curve."),
    )
    replicates = models.PositiveIntegerField(
        _("bootstrap replicates"),
        default=2000,
        validators=[MinValueValidator(100), MaxValueValidator(20_000)],
    )
    effect = models.CharField(
        _("effect"),
        max_length=20,
        choices=Effect.choices,
        default=Effect.MONTHS_IN_WORK,
        help_text=_(
            "What the incremental effect, the ICER and the net monetary benefit are counted in."
        ),
    )
    earnings = models.CharField(
        _("participants' earnings"),
        max_length=20,
        choices=Earnings.choices,
        default=Earnings.NONE,
        help_text=_(
            "Reported beside the costs, and netted off them in a societal-perspective analysis."
        ),
    )

    class Meta:
        verbose_name = _("economic settings")
        verbose_name_plural = _("economic settings")

    def __str__(self) -> str:
        return f"{self.trial.code}: {self.price_year}"

    def work_state_codes(self) -> list[str]:
        return [code.strip() for code in self.work_states.split(",") if code.strip()]


class PlanUnitCosts(models.Model):
    """The unit costs and economic settings in force when an analysis plan was locked.

    Written once, in the transaction that locks the plan (``economics.services.freeze_for_plan``)
    and never changed: reports analyse with these rows and say whether the live table has
    changed since. ``rows`` are the canonical rows (see ``economics.services.canonical_rows``);
    ``table_hash`` is the SHA-256 of their canonical JSON.
    """

    plan = models.OneToOneField(
        "reports.AnalysisPlan", on_delete=models.PROTECT, related_name="unit_costs"
    )
    rows: models.JSONField[list[dict[str, object]]] = models.JSONField(default=list)
    settings: models.JSONField[dict[str, object]] = models.JSONField(default=dict)
    table_hash = models.CharField(_("unit-cost table hash (SHA-256)"), max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("unit costs of an analysis plan")
        verbose_name_plural = _("unit costs of analysis plans")

    def __str__(self) -> str:
        return f"{self.plan}: {self.table_hash[:12]}"
