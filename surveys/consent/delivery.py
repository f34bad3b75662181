"""Consent requests: a participant's personal consent link (a token derived from the row's
nonce, as questionnaire links are), asking one participant or everyone who consented to an
older version, and sending the links by e-mail and SMS through the questionnaires' backends.

Sending is idempotent: each channel of a request is marked sent (and each reminder counted)
in the transaction that holds the row's lock and sends, so a repeated or concurrent run never
sends it twice; a server that cannot be reached is retried by the next run (until
SURVEY_MAX_ATTEMPTS runs in a row have sent nothing); a refused address or number marks the
request bounced by that channel. Reminders follow the trial's reminder days
(``SurveySettings.reminder_days``, as for questionnaires) until the participant answers,
withdraws or is lost, the link expires or a newer version is asked for. A run sends through
several senders at once, each with one mail connection (``surveys.mailer``).
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
from django.utils.translation import ngettext

from surveys import sms
from surveys.consent.models import ConsentRequest, ConsentText
from surveys.consent.services import ConsentError
from surveys.mailer import Mailer, run_senders
from surveys.models import ContactDetails, SurveySettings
from trial import audit
from trial.models import Participant

logger = logging.getLogger(__name__)

BATCH = 200
"""Consent requests a sender takes from a run's queue at a time (``mailer.run_senders``)."""

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
    reminded: int = 0
    bounced: int = 0
    failed: int = 0

    def add(self, other: ConsentSendSummary) -> None:
        """Count in what another sender of the same run did (``mailer.run_senders``)."""
        self.sent += other.sent
        self.reminded += other.reminded
        self.bounced += other.bounced
        self.failed += other.failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "reminded": self.reminded,
            "bounced": self.bounced,
            "failed": self.failed,
        }


CHANNELS = ("email", "sms")


def _context(request: ConsentRequest, *, reminder: bool) -> dict[str, Any]:
    return {
        "trial": request.participant.trial.title,
        "version": request.text.version,
        "reconsent": request.reason == ConsentRequest.Reason.RECONSENT,
        "reminder": reminder,
        "url": link_url(request),
        "expires_on": request.expires_on,
    }


def _send(
    request: ConsentRequest,
    contact: ContactDetails,
    channel: str,
    *,
    reminder: bool,
    mailer: Mailer,
) -> None:
    with translation.override(contact.language):
        context = _context(request, reminder=reminder)
        if channel == "sms":
            sms.send_sms(
                contact.phone, render_to_string("surveys/consent/sms.txt", context).strip()
            )
            return
        subject = (
            _("Reminder: consent for the study %(trial)s")
            if reminder
            else _("Consent for the study %(trial)s")
        ) % {"trial": context["trial"]}
        message = EmailMultiAlternatives(
            subject=subject,
            body=render_to_string("surveys/consent/email.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[contact.email],
        )
    mailer.send(message)


def stop_reason(request: ConsentRequest, day: dt.date, contact: ContactDetails | None) -> str:
    """Why nothing more is sent for ``request`` (a ``ConsentRequest.StopReason``), or "".
    ``request`` comes from ``ConsentRequest.objects.with_state()``."""
    if request.participant.status != Participant.Status.ACTIVE:  # also closes: say so first
        return ConsentRequest.StopReason.NOT_ACTIVE
    if request.closed_at is not None or getattr(request, "answered", False):
        return ConsentRequest.StopReason.ANSWERED
    if getattr(request, "replaced", False):
        return ConsentRequest.StopReason.REPLACED
    if day > request.expires_on:
        return ConsentRequest.StopReason.EXPIRED
    if contact is None or contact.opted_out_at is not None:
        return ConsentRequest.StopReason.OPTED_OUT
    return ""


def _due(
    request: ConsentRequest, contact: ContactDetails, day: dt.date, reminder_days: list[int]
) -> list[tuple[str, bool]]:
    """The channels with a message due on ``day``, each with whether it is a reminder: the
    link by a channel not yet sent, then reminder *n* on ``first sent + reminder_days[n]``
    (counted per channel, so that a channel added later gets its own)."""
    due = []
    present = {"email": bool(contact.email_encrypted), "sms": bool(contact.phone_encrypted)}
    for channel in CHANNELS:
        if not present[channel] or channel in request.bounced.split():
            continue
        sent_at = getattr(request, f"{channel}_sent_at")
        if sent_at is None:
            due.append((channel, False))
            continue
        n = getattr(request, f"{channel}_reminders")
        if n < len(reminder_days) and day >= timezone.localdate(sent_at) + dt.timedelta(
            days=reminder_days[n]
        ):
            due.append((channel, True))
    return due


def send_request(
    request_id: int,
    day: dt.date,
    summary: ConsentSendSummary,
    *,
    mailer: Mailer,
    offsets: dict[int, list[int]] | None = None,
) -> None:
    """Send what is due for one request on ``day`` (the link by each channel not yet sent,
    then the reminders on the trial's reminder days), under the row's lock: each message is
    marked sent in the same transaction, so never twice. Nothing once the participant has
    answered (by any channel), withdrawn or been lost, the link has expired, a newer version
    was asked for, the participant opted out, or the trial's links are switched off (read here,
    for each request, so that switching them off stops a run in progress); nothing either
    after SURVEY_MAX_ATTEMPTS runs in a row in which a transient failure kept every message
    from going out. ``mailer`` is the run's mail connection,
    ``offsets`` the run's reminder days by trial."""
    with transaction.atomic():
        request = (
            ConsentRequest.objects.with_state()
            .select_for_update(of=("self",))
            .select_related("participant__trial", "text")
            .filter(pk=request_id)
            .first()
        )
        if request is None or getattr(request, "links_off", False):
            return
        if gave_up(request):
            return
        participant = request.participant
        contact = ContactDetails.objects.filter(participant=participant).first()
        if contact is None or stop_reason(request, day, contact):
            return
        if offsets is None:
            offsets = {}
        if participant.trial_id not in offsets:
            offsets[participant.trial_id] = SurveySettings.for_trial(
                participant.trial
            ).reminder_offsets
        due = _due(request, contact, day, offsets[participant.trial_id])
        if not due:
            return
        failed = went = transient = False
        for channel, reminder in due:
            try:
                _send(request, contact, channel, reminder=reminder, mailer=mailer)
            except (OSError, sms.SmsError) as error:
                transient = _failed(request, channel, error, summary)
                failed = True
            else:
                went = True
                if reminder:
                    name = f"{channel}_reminders"
                    setattr(request, name, getattr(request, name) + 1)
                    summary.reminded += 1
                else:
                    setattr(request, f"{channel}_sent_at", timezone.now())
                    summary.sent += 1
        # Attempts count runs in a row in which a transient failure kept every message from
        # going out: a channel that works keeps the request (and the other's retries) going.
        if went:
            request.attempts = 0
        elif transient:
            request.attempts += 1
        if not failed:
            request.last_error = ""
        request.save(
            update_fields=[
                "email_sent_at",
                "sms_sent_at",
                "email_reminders",
                "sms_reminders",
                "bounced",
                "attempts",
                "last_error",
            ]
        )


def _failed(
    request: ConsentRequest, channel: str, error: Exception, summary: ConsentSendSummary
) -> bool:
    """Record a message that did not go out; True if it may go out on a later run."""
    request.last_error = f"{type(error).__name__}: {error}"[:200]
    logger.warning("Consent message %s by %s not sent", request.pk, channel)
    if isinstance(error, sms.SmsRefused | smtplib.SMTPRecipientsRefused):
        request.bounced = " ".join(sorted({*request.bounced.split(), channel}))
        summary.bounced += 1
        return False
    summary.failed += 1
    return True


def send_consent_requests(day: dt.date) -> ConsentSendSummary:
    """Send every open consent request's link by the channels not yet sent, and the reminders
    due on ``day``, through several senders at once (``mailer.run_senders``), each request
    under its row's lock. Safe to repeat and to run twice at once. Raises ConsentDeliveryError
    when some failed for a transient reason (the caller retries: only those are sent again)."""
    summary = ConsentSendSummary()
    pending = (
        ConsentRequest.objects.filter(closed_at__isnull=True, expires_on__gte=day)
        .filter(participant__status=Participant.Status.ACTIVE)
        .exclude(
            participant__trial__in=SurveySettings.objects.filter(links_enabled=False).values(
                "trial_id"
            )
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    offsets: dict[int, list[int]] = {}  # the reminder days by trial, read once per run

    def send_batch(batch: list[int], mailer: Mailer, part: ConsentSendSummary) -> None:
        for pk in batch:
            send_request(pk, day, part, mailer=mailer, offsets=offsets)

    for part in run_senders(list(pending), BATCH, send_batch, ConsentSendSummary):
        summary.add(part)
    logger.info("Consent links for %s: %s", day, summary.as_dict())
    if summary.failed:
        raise ConsentDeliveryError(summary.failed)
    return summary


def gave_up(request: ConsentRequest) -> bool:
    """SURVEY_MAX_ATTEMPTS runs in a row failed to send anything: nothing more is tried."""
    return request.attempts >= settings.SURVEY_MAX_ATTEMPTS


def summary_text(request: ConsentRequest, day: dt.date) -> str:
    """ "sent 3 days ago, reminded once, not answered yet" for the staff's participant page;
    ``request`` comes from ``ConsentRequest.objects.with_state()``."""
    first = request.first_sent_at
    if first is None:
        if request.bounced:
            return _("consent link bounced")
        if gave_up(request):
            return _("consent link not sent: sending failed %(n)d times, no more attempts") % {
                "n": request.attempts
            }
        if request.last_error:
            return _("consent link not sent yet: sending failed, will retry")
        return _("consent link not sent yet")
    days = (day - timezone.localdate(first)).days
    parts = [
        ngettext("sent %(n)d day ago", "sent %(n)d days ago", days) % {"n": days}
        if days
        else _("sent today")
    ]
    reminders = request.reminders
    if reminders:
        parts.append(
            ngettext("reminded once", "reminded %(n)d times", reminders) % {"n": reminders}
        )
    if request.bounced:
        parts.append(_("a message bounced"))
    elif gave_up(request):
        parts.append(_("sending failed %(n)d times, no more attempts") % {"n": request.attempts})
    elif request.last_error:
        parts.append(_("sending failed, will retry"))
    contact = getattr(request.participant, "contact_details", None)
    reason = stop_reason(request, day, contact)
    if reason == ConsentRequest.StopReason.ANSWERED:
        parts.append(_("answered"))
    elif reason:
        parts.append(
            _("not answered, no more reminders: %(reason)s")
            % {"reason": (ConsentRequest.StopReason(reason).label)}
        )
    else:
        parts.append(_("not answered yet"))
    return ", ".join(parts)
