"""Trials, their arms and sites, and the staff who work on them (memberships, site assignments)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class Trial(models.Model):
    class Design(models.TextChoices):
        INDIVIDUAL = "individual", _("Individually randomised")
        CLUSTER = "cluster", _("Cluster randomised")
        STEPPED_WEDGE = "stepped_wedge", _("Stepped wedge")

    class Status(models.TextChoices):
        SETUP = "setup", _("Set-up")
        RECRUITING = "recruiting", _("Recruiting")
        FOLLOW_UP = "follow_up", _("Follow-up")
        CLOSED = "closed", _("Closed")

    class EligibilityCheck(models.TextChoices):
        REFUSE = "refuse", _("Refuse the participant")
        WARN = "warn", _("Accept with a warning")

    # Allowed status changes; a trial never goes back to set-up once it has recruited.
    TRANSITIONS = {
        Status.SETUP: {Status.RECRUITING},
        Status.RECRUITING: {Status.FOLLOW_UP, Status.CLOSED},
        Status.FOLLOW_UP: {Status.RECRUITING, Status.CLOSED},
        Status.CLOSED: set(),
    }

    code = models.SlugField(
        _("short code"), max_length=40, unique=True, help_text=_("Used in URLs and file names.")
    )
    title = models.CharField(_("title"), max_length=300)
    registry_id = models.CharField(
        _("registry id"), max_length=60, blank=True, help_text=_("E.g. NCT or ISRCTN number.")
    )
    design = models.CharField(
        _("design"), max_length=20, choices=Design.choices, default=Design.INDIVIDUAL
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.SETUP
    )
    target_size = models.PositiveIntegerField(
        _("target sample size"), validators=[MinValueValidator(1)], default=100
    )
    description = models.TextField(_("description"), blank=True)
    # Set once, by the audited analysis-unblinding step (reports.services.unblind_analysis);
    # from then on arm names are shown to every member (trial.permissions.perms_for).
    analysis_unblinded_at = models.DateTimeField(
        _("analysis unblinded at"), null=True, blank=True, editable=False
    )
    contamination_question = models.CharField(
        _("contamination question"),
        max_length=300,
        blank=True,
        help_text=_(
            "Asked at every follow-up assessment of a control participant, e.g. 'Since the last "
            "assessment, has anyone helped you look for ordinary paid work and followed you up "
            "in the job?'. A yes is recorded as a contamination exposure. Leave empty to not ask."
        ),
    )
    eligibility_check = models.CharField(
        _("values outside the eligibility ranges"),
        max_length=10,
        choices=EligibilityCheck.choices,
        default=EligibilityCheck.REFUSE,
        help_text=_(
            "What enrolment and imports do with a baseline value outside its covariate's "
            "eligibility range: refuse it, or accept it after a warning (e.g. to load a "
            "completed trial whose data include protocol deviations)."
        ),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["title"]
        verbose_name = _("trial")
        verbose_name_plural = _("trials")

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("trial:dashboard", args=[self.code])

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS[Trial.Status(self.status)]

    @property
    def in_setup(self) -> bool:
        """Still in set-up: arms, covariates and the schedule may change."""
        return self.status == Trial.Status.SETUP


class Arm(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="arms")
    code = models.CharField(
        _("code"),
        max_length=10,
        help_text=_("Short label shown to blinded users, e.g. A or B."),
    )
    name = models.CharField(_("name"), max_length=120)
    allocation_weight = models.PositiveSmallIntegerField(
        _("allocation weight"), default=1, validators=[MinValueValidator(1)]
    )
    is_control = models.BooleanField(_("control / usual services"), default=False)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["trial", "code"]
        verbose_name = _("arm")
        verbose_name_plural = _("arms")
        constraints = [
            models.UniqueConstraint(fields=["trial", "code"], name="arm_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.name}"


class Site(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="sites")
    code = models.CharField(
        _("code"),
        max_length=12,
        validators=[RegexValidator(r"^[A-Z0-9]+$", _("Use capital letters and digits only."))],
        help_text=_("Prefix of the study ids at this site, e.g. OSL1."),
    )
    name = models.CharField(_("name"), max_length=200)
    municipality_number = models.CharField(
        _("municipality number"),
        max_length=4,
        blank=True,
        validators=[RegexValidator(r"^\d{4}$", _("A municipality number has four digits."))],
    )
    region = models.CharField(_("region"), max_length=100, blank=True)

    class Meta:
        ordering = ["trial", "code"]
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        constraints = [
            models.UniqueConstraint(fields=["trial", "code"], name="site_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Membership(models.Model):
    """A person's role in one trial; caseworkers are further limited to their sites."""

    class Role(models.TextChoices):
        COORDINATOR = "coordinator", _("Trial coordinator")
        CASEWORKER = "caseworker", _("Caseworker")
        FIDELITY_REVIEWER = "fidelity_reviewer", _("Fidelity reviewer")
        STATISTICIAN = "statistician", _("Statistician")
        DATA_MANAGER = "data_manager", _("Data manager")
        MONITOR = "monitor", _("Monitor (read-only)")

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=30, choices=Role.choices)
    sites = models.ManyToManyField(
        Site,
        blank=True,
        related_name="memberships",
        verbose_name=_("sites"),
        help_text=_("Caseworkers see only participants at these sites."),
    )
    unblinded = models.BooleanField(
        _("unblinded"),
        default=False,
        help_text=_("A designated unblinded statistician may see sealed allocation lists."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["trial", "role", "user__username"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["trial", "user"], name="membership_one_per_trial"),
            models.CheckConstraint(
                condition=models.Q(unblinded=False) | models.Q(role="statistician"),
                name="membership_unblinded_only_statistician",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.get_role_display()} ({self.trial.code})"


class SiteAssignment(models.Model):
    """Where a member of staff worked, and when: the dated history behind ``Membership.sites``.

    ``Membership.sites`` says what a caseworker may see today; assignments say where they worked
    before, so a caseworker who moved from an intervention office to a control office can be
    flagged as a contamination risk for the contacts they log there.
    """

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="assignments")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="assignments")
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(
        _("until"), null=True, blank=True, help_text=_("Empty: still there.")
    )

    class Meta:
        ordering = ["membership", "starts_on"]
        verbose_name = _("site assignment")
        verbose_name_plural = _("site assignments")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="site_assignment_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.membership.user} @ {self.site.code} {self.starts_on:%Y-%m-%d}"
