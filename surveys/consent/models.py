"""Consent texts (versions per trial, drafts and immutable published versions), the requests
that carry a participant's personal consent link, and the records of what a participant
confirmed or declined.

A request's token is derived as an invitation's is (an HMAC of a random nonce, found again by
its SHA-256 hash): nothing in the database alone opens a link.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _

from trial import personal_numbers
from trial.models import Participant, Trial

LANGUAGES = [("nb", _("Norwegian Bokmål")), ("en", _("English"))]


class ConsentTextQuerySet(models.QuerySet["ConsentText"]):
    def published(self) -> ConsentTextQuerySet:
        return self.filter(status=ConsentText.Status.PUBLISHED)

    def current(self, trial: Trial, day: dt.date) -> ConsentText | None:
        """The published version in force on ``day``: the latest effective date, then the
        latest published."""
        return (
            self.published()
            .filter(trial=trial, effective_on__lte=day)
            .order_by("-effective_on", "-published_at", "-pk")
            .first()
        )


class ConsentText(models.Model):
    """One version of a trial's consent text, in bokmål and English. A draft may be edited; a
    published version never changes (an edit is a new version)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="consent_texts")
    version = models.CharField(_("version"), max_length=40)
    text_nb = models.TextField(_("text in bokmål"))
    text_en = models.TextField(_("text in English"))
    effective_on = models.DateField(_("in force from"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ConsentTextQuerySet.as_manager()

    class Meta:
        ordering = ["trial", "-effective_on", "-pk"]
        verbose_name = _("consent text")
        verbose_name_plural = _("consent texts")
        constraints = [
            models.UniqueConstraint(fields=["trial", "version"], name="consent_text_version_once"),
        ]

    def __str__(self) -> str:
        return f"{self.trial.code} {self.version}"

    @property
    def published(self) -> bool:
        return self.status == ConsentText.Status.PUBLISHED

    def text_in(self, language: str) -> str:
        return self.text_en if language == "en" else self.text_nb


class ConsentRequestQuerySet(models.QuerySet["ConsentRequest"]):
    def with_state(self) -> ConsentRequestQuerySet:
        """Annotated with what stops its reminders besides the row's own fields: ``answered``
        (a consent or refusal to this version recorded by any channel, e.g. on a staff
        device), ``replaced`` (the participant was asked for another version since) and
        ``links_off`` (the trial's kill switch)."""
        from surveys.models import SurveySettings

        return self.annotate(
            answered=Exists(
                ConsentRecord.objects.filter(
                    participant_id=OuterRef("participant_id"), text_id=OuterRef("text_id")
                )
            ),
            replaced=Exists(
                ConsentRequest.objects.filter(
                    participant_id=OuterRef("participant_id"), pk__gt=OuterRef("pk")
                )
            ),
            links_off=Exists(
                SurveySettings.objects.filter(
                    trial_id=OuterRef("participant__trial_id"), links_enabled=False
                )
            ),
        )


class ConsentRequest(models.Model):
    """A participant asked to consent to one text version through a personal link, sent by
    every channel they can be reached by, then reminded on the trial's reminder days (each
    message marked sent under the row's lock, so never twice). Closed when they answer
    (consent or decline) or withdraw."""

    class StopReason(models.TextChoices):
        ANSWERED = "answered", _("answered")
        EXPIRED = "expired", _("link expired")
        NOT_ACTIVE = "not_active", _("participant no longer active")
        OPTED_OUT = "opted_out", _("participant opted out")
        REPLACED = "replaced", _("a newer version was asked for")

    class Reason(models.TextChoices):
        FIRST = "first", _("consent")
        RECONSENT = "reconsent", _("re-consent to a new version")

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="consent_requests"
    )
    text = models.ForeignKey(ConsentText, on_delete=models.PROTECT, related_name="requests")
    reason = models.CharField(max_length=10, choices=Reason.choices, default=Reason.FIRST)
    nonce = models.CharField(max_length=64, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    expires_on = models.DateField(_("link works until"))
    email_sent_at = models.DateTimeField(null=True, blank=True)
    sms_sent_at = models.DateTimeField(null=True, blank=True)
    email_reminders = models.PositiveSmallIntegerField(_("e-mail reminders sent"), default=0)
    sms_reminders = models.PositiveSmallIntegerField(_("SMS reminders sent"), default=0)
    bounced = models.CharField(max_length=20, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ConsentRequestQuerySet.as_manager()

    AUDIT_EXCLUDE = ("nonce", "token_hash")

    class Meta:
        verbose_name = _("consent request")
        verbose_name_plural = _("consent requests")
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "text"], name="consent_request_once_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant} {self.text.version}"

    @property
    def first_sent_at(self) -> dt.datetime | None:
        sent = [at for at in (self.email_sent_at, self.sms_sent_at) if at is not None]
        return min(sent) if sent else None

    @property
    def reminders(self) -> int:
        return max(self.email_reminders, self.sms_reminders)


class ConsentRecord(models.Model):
    """What a participant confirmed (or declined) on the consent screen: the text version and
    language shown, the SHA-256 of the exact rendered text, the typed name (encrypted, never
    exported, logged or shown) and date, and the PDF snapshot of what was shown and signed."""

    class Channel(models.TextChoices):
        LINK = "link", _("personal link")
        STAFF_DEVICE = "staff_device", _("staff device")

    class Outcome(models.TextChoices):
        CONSENTED = "consented", _("consented")
        DECLINED = "declined", _("declined")

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="consent_records"
    )
    text = models.ForeignKey(ConsentText, on_delete=models.PROTECT, related_name="records")
    request = models.ForeignKey(
        ConsentRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="records"
    )
    outcome = models.CharField(_("answer"), max_length=10, choices=Outcome.choices)
    language = models.CharField(_("language"), max_length=5, choices=LANGUAGES)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    recorded_at = models.DateTimeField(_("recorded"))
    signed_on = models.DateField(_("date typed"), null=True, blank=True)
    text_sha256 = models.CharField(_("SHA-256 of the text shown"), max_length=64)
    typed_name_encrypted = models.TextField(editable=False, blank=True)
    pdf_file = models.CharField(max_length=200, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)

    # The typed name never enters audit events, exports or API answers.
    AUDIT_EXCLUDE = ("typed_name_encrypted",)

    class Meta:
        ordering = ["participant", "-recorded_at", "-pk"]
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")

    def __str__(self) -> str:
        return f"{self.participant} {self.text.version} {self.outcome}"

    @property
    def typed_name(self) -> str:
        if not self.typed_name_encrypted:
            return ""
        return personal_numbers.decrypt(self.typed_name_encrypted)
