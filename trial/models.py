"""Trials, their arms, sites and staff, participants, and the audit trail."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


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


class ParticipantQuerySet(models.QuerySet["Participant"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> ParticipantQuerySet:
        from trial import permissions

        return permissions.scope_participants(self, user)

    def active(self) -> ParticipantQuerySet:
        return self.filter(status=Participant.Status.ACTIVE)


class Participant(models.Model):
    """A person enrolled in a trial, known everywhere else by the pseudonymous study id."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        LOST = "lost", _("Lost to follow-up")
        COMPLETED = "completed", _("Completed")

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="participants")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="participants")
    study_id = models.CharField(_("study id"), max_length=30)
    personal_number_encrypted = models.TextField(editable=False)
    personal_number_hash = models.CharField(max_length=64, editable=False)
    enrolled_on = models.DateField(_("enrolled on"))
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE
    )
    baseline = models.JSONField(_("baseline covariates"), default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ParticipantQuerySet.as_manager()

    # Never copied into audit events or exports.
    AUDIT_EXCLUDE = ("personal_number_encrypted", "personal_number_hash")

    class Meta:
        ordering = ["trial", "study_id"]
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        constraints = [
            models.UniqueConstraint(fields=["trial", "study_id"], name="participant_unique_id"),
            models.UniqueConstraint(
                fields=["trial", "personal_number_hash"], name="participant_once_per_trial"
            ),
        ]
        indexes = [models.Index(fields=["trial", "site", "status"])]

    def __str__(self) -> str:
        return self.study_id

    def get_absolute_url(self) -> str:
        return reverse("trial:participant", args=[self.trial.code, self.study_id])


class AuditEvent(models.Model):
    """Who did what to which object, when, and what it looked like before and after.

    Append-only: there is no update or delete path in the code, the admin is read-only, and on
    PostgreSQL a trigger rejects UPDATE and DELETE. Targets are referenced by type and id, not
    by foreign key, so events outlive the objects they describe.
    """

    trial = models.ForeignKey(
        Trial, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_name = models.CharField(_("by"), max_length=150)
    action = models.CharField(_("action"), max_length=80, db_index=True)
    target_type = models.CharField(_("object type"), max_length=80)
    target_id = models.CharField(_("object id"), max_length=64)
    target_repr = models.CharField(_("object"), max_length=200)
    data: models.JSONField[Any] = models.JSONField(_("changes"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return (
            f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.target_repr}"
        )
