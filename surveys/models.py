"""Participants answering for themselves: their contact details, the links they are sent
(invitations and reminders, one row per participant, visit, instrument and channel), the
answers they have saved but not yet submitted, and each trial's settings for all of it.

A link's token is never stored: the row keeps a random nonce, the token is an HMAC of it under
the server's secret key (so a reminder can repeat the same link), and the token is found again
by its SHA-256 hash (``token_hash``). See docs/participant-questionnaires.md.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from instruments.models import Instrument, InstrumentVersion
from trial import personal_numbers
from trial.models import Participant, Trial, Visit

LANGUAGES = [("nb", _("Norwegian Bokmål")), ("en", _("English"))]


class SurveySettings(models.Model):
    """A trial's switch for participant links (off: no link works and nothing is sent) and
    the days after the invitation on which unanswered questionnaires are reminded."""

    trial = models.OneToOneField(Trial, on_delete=models.CASCADE, related_name="survey_settings")
    links_enabled = models.BooleanField(
        _("participant links on"),
        default=True,
        help_text=_("Off: no link works and no invitation or reminder is sent (a kill switch)."),
    )
    reminder_days = models.CharField(
        _("reminder days"),
        max_length=60,
        default="3,7",
        help_text=_(
            "Days after the invitation or consent link on which to remind, e.g. 3, 7. Empty: none."
        ),
    )

    class Meta:
        verbose_name = _("participant questionnaire settings")
        verbose_name_plural = _("participant questionnaire settings")

    def __str__(self) -> str:
        return str(self.trial)

    @classmethod
    def for_trial(cls, trial: Trial) -> SurveySettings:
        """The trial's settings, or unsaved defaults when it has none (reading writes nothing)."""
        return cls.objects.filter(trial=trial).first() or cls(trial=trial)

    @property
    def reminder_offsets(self) -> list[int]:
        return parse_reminder_days(self.reminder_days)


def parse_reminder_days(text: str) -> list[int]:
    """ "3, 7" -> [3, 7]; raises ValueError for anything but positive whole numbers."""
    days = sorted({int(part) for part in text.replace(";", ",").split(",") if part.strip()})
    if any(day < 1 or day > 365 for day in days):
        raise ValueError(text)
    return days


class ContactDetails(models.Model):
    """How to reach a participant, stored encrypted (like personal numbers) and never copied
    into the audit trail, logs or exports; the language their messages and pages are in."""

    participant = models.OneToOneField(
        Participant, on_delete=models.CASCADE, related_name="contact_details"
    )
    email_encrypted = models.TextField(editable=False, blank=True)
    phone_encrypted = models.TextField(editable=False, blank=True)
    language = models.CharField(_("language"), max_length=5, choices=LANGUAGES, default="nb")
    opted_out_at = models.DateTimeField(_("opted out of messages"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    AUDIT_EXCLUDE = ("email_encrypted", "phone_encrypted")

    class Meta:
        verbose_name = _("contact details")
        verbose_name_plural = _("contact details")

    def __str__(self) -> str:
        return str(self.participant)

    @property
    def email(self) -> str:
        return personal_numbers.decrypt(self.email_encrypted) if self.email_encrypted else ""

    @property
    def phone(self) -> str:
        return personal_numbers.decrypt(self.phone_encrypted) if self.phone_encrypted else ""


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def open(self) -> InvitationQuerySet:
        return self.exclude(status__in=[Invitation.Status.STOPPED, Invitation.Status.BOUNCED])


class Invitation(models.Model):
    """One link to one participant for one instrument at one visit, by one channel, and what
    was sent through it. The unique constraint makes creating it safe to repeat; sending marks
    ``sent_at`` (or one more reminder) in the transaction that holds the row's lock."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        SMS = "sms", _("SMS")

    class Status(models.TextChoices):
        PENDING = "pending", _("Not sent yet")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Sending failed, will retry")
        BOUNCED = "bounced", _("Bounced")
        STOPPED = "stopped", _("Stopped")

    class StopReason(models.TextChoices):
        ANSWERED = "answered", _("answered")
        WITHDRAWN = "withdrawn", _("participant withdrew")
        LOST = "lost", _("lost to follow-up")
        CLOSED = "closed", _("visit window closed")
        OPTED_OUT = "opted_out", _("participant opted out")
        VISIT_CLOSED = "visit_closed", _("visit completed or missed")
        SEND_FAILED = "send_failed", _("sending failed too many times")

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="invitations"
    )
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="invitations")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey(InstrumentVersion, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    nonce = models.CharField(max_length=64, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    expires_on = models.DateField(_("link works until"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    stop_reason = models.CharField(
        _("stopped because"), max_length=20, choices=StopReason.choices, blank=True
    )
    sent_at = models.DateTimeField(_("invited"), null=True, blank=True)
    reminders_sent = models.PositiveSmallIntegerField(_("reminders sent"), default=0)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)
    opened_at = models.DateTimeField(_("first opened"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = InvitationQuerySet.as_manager()

    AUDIT_EXCLUDE = ("nonce", "token_hash")

    class Meta:
        ordering = ["visit", "instrument", "channel"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "visit", "instrument", "channel"],
                name="invitation_once_per_channel",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_on"])]

    def __str__(self) -> str:
        return f"{self.visit} {self.instrument.code} {self.channel}"

    def usable_on(self, day: dt.date) -> bool:
        return day <= self.expires_on and self.status != Invitation.Status.STOPPED


class Draft(models.Model):
    """Answers saved on the participant's page and not yet submitted: as the browser sent them
    (``values`` raw, ``missing`` codes), shared by the links of every channel."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="+")
    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="+")
    values: models.JSONField[dict[str, Any]] = models.JSONField(default=dict, blank=True)
    missing: models.JSONField[dict[str, str]] = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("saved answers")
        verbose_name_plural = _("saved answers")
        constraints = [
            models.UniqueConstraint(fields=["visit", "instrument"], name="draft_once"),
        ]

    def __str__(self) -> str:
        return f"{self.visit} {self.instrument.code}"


# Electronic consent's models live in their subpackage; imported here so that they belong to
# this app (and its migrations).
from surveys.consent.models import (  # noqa: E402, F401
    ConsentRecord,
    ConsentRequest,
    ConsentText,
)
