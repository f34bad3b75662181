"""Participants and what is recorded about them at the door: screening, baseline covariates,
withdrawal and loss to follow-up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from trial.constraints import unique_where_set
from trial.models.trials import Site, Trial

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


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
            unique_where_set(
                "trial",
                "personal_number_hash",
                when="personal_number_hash",
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
