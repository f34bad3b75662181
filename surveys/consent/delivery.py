"""Consent requests: a participant's personal consent link (a token derived from the row's
nonce, as questionnaire links are), asking one participant or everyone who consented to an
older version, and sending the links by e-mail and SMS through the questionnaires' backends.

Sending is idempotent: each channel of a request is marked sent in the transaction that holds
the row's lock and sends, so a repeated or concurrent run never sends it twice; a server that
cannot be reached counts an attempt and is retried by the next run (up to
SURVEY_MAX_ATTEMPTS); a refused address or number marks the request bounced by that channel.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
import smtplib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from surveys import sms
from surveys.consent.models import ConsentRequest, ConsentText
from surveys.consent.services import ConsentError
from surveys.models import ContactDetails, SurveySettings
from trial import audit
from trial.models import Participant

logger = logging.getLogger(__name__)

TOKEN = re.compile(r"^[0-9a-f]{64}$")


class LinkUnusable(Exception):
    """Unknown, expired, its participant no longer active, or links switched off: one answer
    for all, so a link's existence (or a withdrawal) cannot be probed."""


class ConsentDeliveryError(Exception):
    """Some consent links could not be sent for a transient reason; they are retried."""

    def __init__(self, failed: int) -> None:
        super().__init__(failed)
        self.failed = failed

    def __str__(self) -> str:
        return f"{self.failed} consent message(s) not sent"


def token_for(request: ConsentRequest) -> str:
    return salted_hmac("surveys.consent", request.nonce, algorithm="sha256").hexdigest()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_url(request: ConsentRequest) -> str:
    return settings.SITE_URL + reverse("consent:page", args=[token_for(request)])


def _links_on(trial_id: int) -> bool:
    return not SurveySettings.objects.filter(trial_id=trial_id, links_enabled=False).exists()


def find_request(token: str, *, today: dt.date | None = None) -> ConsentRequest:
    """The request a token opens, or LinkUnusable. An answered request still opens (its page
    shows the answer and offers withdrawal) until the link expires."""
    if not TOKEN.match(token or ""):
        raise LinkUnusable
    found = (
        ConsentRequest.objects.select_related("participant__trial", "text")
        .filter(token_hash=_hash(token))
        .first()
    )
    if found is None:
        raise LinkUnusable
    day = today or timezone.localdate()
    if (
        day > found.expires_on
        or found.participant.status != Participant.Status.ACTIVE
        or not _links_on(found.participant.trial_id)
    ):
        raise LinkUnusable
    return found


def _new_request(
    participant: Participant, text: ConsentText, *, reason: str, actor: User | None
) -> ConsentRequest:
    row = ConsentRequest(
        participant=participant,
        text=text,
        reason=reason,
        nonce=secrets.token_hex(32),
        expires_on=timezone.localdate() + dt.timedelta(days=settings.CONSENT_LINK_DAYS),
        requested_by=actor,
    )
    row.token_hash = _hash(token_for(row))
    return row


def _enqueue() -> None:
    from surveys.consent.tasks import send_consent_requests

    send_consent_requests.delay_on_commit()


def request_consent(
    participant: Participant, text: ConsentText, *, actor: User
) -> tuple[ConsentRequest, bool]:
    """Ask one participant to consent to ``text`` through a personal link, sent by e-mail
    and/or SMS after commit. Safe to repeat: a second call returns the first request
    (``created`` False) and sends nothing more. Raises ConsentError for an unpublished text or
    a participant who is not active or cannot be reached."""
    if not text.published or text.trial_id != participant.trial_id:
        raise ConsentError(_("This consent text is not published for the trial."))
    if participant.status != Participant.Status.ACTIVE:
        raise ConsentError(_("This participant is no longer active in the study."))
    contact = ContactDetails.objects.filter(participant=participant).first()
    if contact is None or not (contact.email_encrypted or contact.phone_encrypted):
        raise ConsentError(_("The participant has no e-mail address or mobile phone on file."))
    with transaction.atomic():
        found = ConsentRequest.objects.filter(participant=participant, text=text).first()
        if found is not None:
            return found, False
        row = _new_request(participant, text, reason=ConsentRequest.Reason.FIRST, actor=actor)
        row.save()
        audit.record("consent.requested", row, actor=actor, data={"version": text.version})
        _enqueue()
    return row, True


def ask_reconsent(text: ConsentText, *, actor: User) -> int:
    """Ask every active participant of the trial whose consent is to another (older) version
    to consent to ``text``: one request each, sent after commit. Safe to repeat: participants
    already asked for this version are not asked again. Returns how many were asked now.
    Raises ConsentError for a draft."""
    if not text.published:
        raise ConsentError(_("Publish this version before asking for re-consent."))
    with transaction.atomic():
        asked = ConsentRequest.objects.filter(text=text).values("participant_id")
        participants = (
            Participant.objects.active()
            .filter(trial_id=text.trial_id)
            .exclude(consent_version="")
            .exclude(consent_version=text.version)
            .exclude(pk__in=asked)
        )
        rows = [
            _new_request(p, text, reason=ConsentRequest.Reason.RECONSENT, actor=actor)
            for p in participants
        ]
        made = ConsentRequest.objects.bulk_create(rows, ignore_conflicts=True)
        audit.record(
            "consent.reconsent_requested",
            text,
            actor=actor,
            data={"version": text.version, "asked": len(made)},
        )
        if made:
            _enqueue()
    return len(made)


# --- sending ------------------------------------------------------------------------------


@dataclass
class ConsentSendSummary:
    sent: int = 0
    bounced: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "bounced": self.bounced, "failed": self.failed}


def _context(request: ConsentRequest) -> dict[str, Any]:
    return {
        "trial": request.participant.trial.title,
        "version": request.text.version,
        "reconsent": request.reason == ConsentRequest.Reason.RECONSENT,
        "url": link_url(request),
        "expires_on": request.expires_on,
    }


def _send(request: ConsentRequest, contact: ContactDetails, channel: str) -> None:
    with translation.override(contact.language):
        context = _context(request)
        if channel == "sms":
            sms.send_sms(
                contact.phone, render_to_string("surveys/consent/sms.txt", context).strip()
            )
            return
        subject = _("Consent for the study %(trial)s") % {"trial": context["trial"]}
        message = EmailMultiAlternatives(
            subject=subject,
            body=render_to_string("surveys/consent/email.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[contact.email],
        )
    message.send()


def _due_channels(request: ConsentRequest, contact: ContactDetails) -> list[str]:
    due = []
    if contact.email_encrypted and request.email_sent_at is None and "email" not in request.bounced:
        due.append("email")
    if contact.phone_encrypted and request.sms_sent_at is None and "sms" not in request.bounced:
        due.append("sms")
    return due


def send_request(request_id: int, day: dt.date, summary: ConsentSendSummary) -> None:
    """Send a request's link by each channel not yet sent, under the row's lock (marked sent
    in the same transaction, so never twice). Nothing for a closed, expired or failed-out
    request, a participant no longer active or opted out, or links switched off."""
    with transaction.atomic():
        request = (
            ConsentRequest.objects.select_for_update(of=("self",))
            .select_related("participant__trial", "text")
            .filter(pk=request_id)
            .first()
        )
        if request is None or request.closed_at is not None or day > request.expires_on:
            return
        if request.attempts >= settings.SURVEY_MAX_ATTEMPTS:
            return
        participant = request.participant
        contact = ContactDetails.objects.filter(participant=participant).first()
        if (
            participant.status != Participant.Status.ACTIVE
            or contact is None
            or contact.opted_out_at is not None
            or not _links_on(participant.trial_id)
        ):
            return
        for channel in _due_channels(request, contact):
            try:
                _send(request, contact, channel)
            except (OSError, sms.SmsError) as error:
                _failed(request, channel, error, summary)
                continue
            setattr(request, f"{channel}_sent_at", timezone.now())
            summary.sent += 1
        request.save(
            update_fields=["email_sent_at", "sms_sent_at", "bounced", "attempts", "last_error"]
        )


def _failed(
    request: ConsentRequest, channel: str, error: Exception, summary: ConsentSendSummary
) -> None:
    request.last_error = f"{type(error).__name__}: {error}"[:200]
    if isinstance(error, sms.SmsRefused | smtplib.SMTPRecipientsRefused):
        request.bounced = " ".join(sorted({*request.bounced.split(), channel}))
        summary.bounced += 1
    else:
        request.attempts += 1
        summary.failed += 1
    logger.warning("Consent message %s by %s not sent", request.pk, channel)


def send_consent_requests(day: dt.date) -> ConsentSendSummary:
    """Send every open consent request's link by the channels not yet sent. Safe to repeat
    and to run twice at once. Raises ConsentDeliveryError when some failed for a transient
    reason (the caller retries: only those are sent again)."""
    summary = ConsentSendSummary()
    pending = (
        ConsentRequest.objects.filter(closed_at__isnull=True, expires_on__gte=day)
        .filter(participant__status=Participant.Status.ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for pk in list(pending):
        send_request(pk, day, summary)
    logger.info("Consent links for %s: %s", day, summary.as_dict())
    if summary.failed:
        raise ConsentDeliveryError(summary.failed)
    return summary
