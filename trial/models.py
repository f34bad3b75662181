"""Trials, their arms, sites and staff, participants, and the audit trail."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


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


class ParticipantQuerySet(models.QuerySet["Participant"]):
    def visible_to(self, user: User | AnonymousUser) -> ParticipantQuerySet:
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
    # Both empty only for a participant imported from a pseudonymised data set (an earlier
    # trial re-analysed); enrolment through the form or the API always stores a number.
    personal_number_encrypted = models.TextField(editable=False, blank=True)
    # NULL, not "", for "no number", so that the partial unique constraint ignores them.
    personal_number_hash = models.CharField(  # noqa: DJ001
        max_length=64, editable=False, null=True, blank=True
    )
    enrolled_on = models.DateField(_("enrolled on"))
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE
    )
    baseline = models.JSONField(_("baseline covariates"), default=dict, blank=True)
    consent_version = models.CharField(_("consent form version"), max_length=40, blank=True)
    consent_date = models.DateField(_("consent date"), null=True, blank=True)
    randomised_on = models.DateField(
        _("randomised on"),
        null=True,
        blank=True,
        help_text=_("Set by the randomisation service; follow-up visits count from this date."),
    )
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
                fields=["trial", "personal_number_hash"],
                condition=models.Q(personal_number_hash__isnull=False),
                name="participant_once_per_trial",
            ),
            models.CheckConstraint(
                condition=models.Q(personal_number_hash__isnull=True, personal_number_encrypted="")
                | (
                    models.Q(personal_number_hash__isnull=False)
                    & ~models.Q(personal_number_encrypted="")
                ),
                name="participant_number_all_or_nothing",
            ),
        ]
        indexes = [models.Index(fields=["trial", "site", "status"])]

    def __str__(self) -> str:
        return self.study_id

    def get_absolute_url(self) -> str:
        return reverse("trial:participant", args=[self.trial.code, self.study_id])


class CovariateDefinition(models.Model):
    """One typed baseline covariate collected at enrolment in a trial."""

    class Kind(models.TextChoices):
        INTEGER = "integer", _("Whole number")
        DECIMAL = "decimal", _("Decimal number")
        CHOICE = "choice", _("Choice from a list")
        BOOLEAN = "boolean", _("Yes / no")

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="covariates")
    key = models.SlugField(_("key"), max_length=40, help_text=_("Column name in data sets."))
    label = models.CharField(_("label"), max_length=120)
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices)
    choices = models.JSONField(
        _("choices"),
        default=list,
        blank=True,
        help_text=_("For a choice: a list of [value, label] pairs."),
    )
    min_value = models.DecimalField(
        _("minimum"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    max_value = models.DecimalField(
        _("maximum"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    # The minimum and maximum say which values are possible at all (always refused outside);
    # the eligibility range is the trial's inclusion criterion, refused or warned about as the
    # trial sets (Trial.eligibility_check).
    eligible_min = models.DecimalField(
        _("lowest eligible value"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("The inclusion criterion, e.g. 18 for an age range of 18–29."),
    )
    eligible_max = models.DecimalField(
        _("highest eligible value"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("E.g. 29 for an age range of 18–29."),
    )
    required = models.BooleanField(_("required"), default=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["trial", "order", "key"]
        verbose_name = _("baseline covariate")
        verbose_name_plural = _("baseline covariates")
        constraints = [
            models.UniqueConstraint(fields=["trial", "key"], name="covariate_unique_key"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def eligibility_range(self) -> str:
        """The eligibility range as people write it: 18–29, 18 or more, 29 or less ('' if the
        covariate has none)."""
        low, high = (
            None if limit is None else format(limit.normalize(), "f")
            for limit in (self.eligible_min, self.eligible_max)
        )
        if low is not None and high is not None:
            return f"{low}–{high}"
        if low is not None:
            return str(_("%(low)s or more") % {"low": low})
        if high is not None:
            return str(_("%(high)s or less") % {"high": high})
        return ""


class ExclusionReason(models.Model):
    """A reason a screened person was not eligible, from the trial's own list."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="exclusion_reasons")
    code = models.SlugField(_("code"), max_length=40)
    label = models.CharField(_("label"), max_length=200)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["trial", "order", "code"]
        verbose_name = _("exclusion reason")
        verbose_name_plural = _("exclusion reasons")
        constraints = [
            models.UniqueConstraint(fields=["trial", "code"], name="exclusion_reason_unique"),
        ]

    def __str__(self) -> str:
        return self.label


class ScreeningRecord(models.Model):
    """One person assessed for eligibility: CONSORT's first boxes. Holds no identity."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="screenings")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="screenings")
    screened_on = models.DateField(_("screened on"))
    eligible = models.BooleanField(_("eligible"))
    exclusion_reason = models.ForeignKey(
        ExclusionReason,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        verbose_name=_("exclusion reason"),
    )
    declined = models.BooleanField(
        _("declined to take part"), default=False, help_text=_("Eligible, but said no.")
    )
    participant = models.OneToOneField(
        Participant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="screening",
    )
    screened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-screened_on", "-id"]
        verbose_name = _("screening record")
        verbose_name_plural = _("screening log")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(eligible=True) | models.Q(exclusion_reason__isnull=False),
                name="screening_ineligible_has_reason",
            ),
            models.CheckConstraint(
                condition=models.Q(eligible=False, declined=False)
                | models.Q(eligible=True, exclusion_reason__isnull=True),
                name="screening_consistent_outcome",
            ),
            models.CheckConstraint(
                condition=models.Q(participant__isnull=True)
                | models.Q(eligible=True, declined=False),
                name="screening_enrolled_only_if_eligible",
            ),
        ]
        indexes = [models.Index(fields=["trial", "site", "screened_on"])]

    def __str__(self) -> str:
        return f"{self.site.code} {self.screened_on:%Y-%m-%d}"


class Withdrawal(models.Model):
    """A participant's withdrawal and what they allowed to happen afterwards."""

    class Scope(models.TextChoices):
        NO_CONTACT = "no_contact", _("No further contact (register data may still be used)")
        NO_DATA = "no_data", _("No further data collection")
        REMOVE_DATA = "remove_data", _("Remove data already collected, where the protocol allows")

    participant = models.OneToOneField(
        Participant, on_delete=models.PROTECT, related_name="withdrawal"
    )
    withdrawn_on = models.DateField(_("withdrawn on"))
    scope = models.CharField(
        _("what the participant allowed"), max_length=20, choices=Scope.choices
    )
    reason = models.CharField(_("reason"), max_length=300)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("withdrawal")
        verbose_name_plural = _("withdrawals")

    def __str__(self) -> str:
        return f"{self.participant} {self.withdrawn_on:%Y-%m-%d}"


class LossToFollowUp(models.Model):
    """A participant the trial can no longer reach: not a withdrawal (they did not say no), and
    reversible if they are found again. CONSORT reports them, with reasons, per arm."""

    class Reason(models.TextChoices):
        UNREACHABLE = "unreachable", _("Cannot be reached")
        MOVED = "moved", _("Moved away from the trial's area")
        DIED = "died", _("Died")
        OTHER = "other", _("Other")

    participant = models.OneToOneField(
        Participant, on_delete=models.PROTECT, related_name="loss_to_follow_up"
    )
    lost_on = models.DateField(_("lost to follow-up on"))
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    detail = models.CharField(_("what was tried"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("loss to follow-up")
        verbose_name_plural = _("losses to follow-up")

    def __str__(self) -> str:
        return f"{self.participant} {self.lost_on:%Y-%m-%d}"


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
