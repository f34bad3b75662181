"""Invitations and reminders: making the day's invitations, sending what is due by e-mail or
SMS, and recording bounces; the staff pages' one-line summary of a visit's invitations.

Invitations are data: ``create_invitations`` makes one row per participant, visit,
self-completed instrument and channel (a unique constraint, so repeating it adds nothing), and
``send_due`` sends what is due (the first message, then reminders on the trial's reminder
days), each in its own transaction that holds the row's lock and marks it sent, so a repeated
or concurrent run never sends the same message twice. The stop rules (answered, withdrawn,
lost to follow-up, visit closed, window closed, opted out) and the trial's kill switch are
checked again under the lock before each message.

A run sends through several senders at once (``SURVEY_SEND_CONNECTIONS``), each with one mail
connection (``Mailer``: opened at the first message, reopened after a connection error, closed
at the end), and reads each message's rows in the one query that takes the lock, so that
10,000 invitations take seconds, not minutes (issue 21).
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
import re
import secrets
import smtplib
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives
from django.core.mail.utils import DNS_NAME
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from instruments.models import Assessment, VisitInstrument
from surveys import sms
from surveys.links import (
    PROVIDER_ACTOR_NAME,
    answered,
    link_url,
    opt_out,
    opt_out_url,
    token_for,
    token_hash,
)
from surveys.mailer import Mailer, run_senders
from surveys.models import ContactDetails, Invitation, SurveySettings
from trial import audit
from trial.models import Participant, Trial, Visit

logger = logging.getLogger(__name__)

BATCH = 200
"""Invitations read together (``_prepared``) before each is sent under its own lock; a sender
takes a batch at a time from the run's queue (``mailer.run_senders``)."""


@dataclass
class SendSummary:
    day: dt.date
    created: int = 0
    invited: int = 0
    reminded: int = 0
    stopped: int = 0
    bounced: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: SendSummary) -> None:
        """Count in what another sender of the same run did (``send_due``)."""
        for name in ("created", "invited", "reminded", "stopped", "bounced", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "created": self.created,
            "invited": self.invited,
            "reminded": self.reminded,
            "stopped": self.stopped,
            "bounced": self.bounced,
            "failed": self.failed,
        }


class DeliveryError(Exception):
    """Some messages could not be sent (mail server or SMS gateway down); they are retried."""

    def __init__(self, day: dt.date, failed: int) -> None:
        super().__init__(day, failed)
        self.day = day
        self.failed = failed

    def __str__(self) -> str:
        return f"{self.failed} participant message(s) for {self.day} not sent"


def _enabled_trials() -> list[int]:
    off = SurveySettings.objects.filter(links_enabled=False).values_list("trial_id", flat=True)
    return list(
        Trial.objects.exclude(status=Trial.Status.CLOSED)
        .exclude(pk__in=off)
        .values_list("pk", flat=True)
    )


def create_invitations(day: dt.date) -> int:
    """One invitation per participant, open visit whose window has opened by ``day``,
    self-completed instrument not yet answered, and channel the participant can be reached by
    (not opted out). Safe to repeat: existing rows are left alone. Returns how many were
    made."""
    links = VisitInstrument.objects.filter(
        self_completed=True, visit_definition__trial_id__in=_enabled_trials()
    ).select_related("instrument")
    by_definition: dict[int, list[VisitInstrument]] = {}
    for link in links:
        by_definition.setdefault(link.visit_definition_id, []).append(link)
    if not by_definition:
        return 0
    visits = (
        Visit.objects.open()
        .filter(
            definition_id__in=by_definition,
            window_start__lte=day,
            window_end__gte=day,
            participant__status=Participant.Status.ACTIVE,
            participant__contact_details__opted_out_at__isnull=True,
        )
        .select_related("participant__contact_details")
    )
    existing = set(
        Invitation.objects.filter(visit__in=visits).values_list(
            "visit_id", "instrument_id", "channel"
        )
    )
    answered_pairs = set(
        Assessment.objects.filter(visit__in=visits).values_list("visit_id", "instrument_id")
    )
    versions: dict[int, Any] = {}
    rows = []
    for visit in visits:
        contact = visit.participant.contact_details
        channels = [
            channel
            for channel, present in (
                (Invitation.Channel.EMAIL, bool(contact.email_encrypted)),
                (Invitation.Channel.SMS, bool(contact.phone_encrypted)),
            )
            if present
        ]
        for link in by_definition[visit.definition_id]:
            if (visit.pk, link.instrument_id) in answered_pairs:
                continue
            if link.instrument_id not in versions:
                versions[link.instrument_id] = link.instrument.current_version()
            for channel in channels:
                if (visit.pk, link.instrument_id, channel) in existing:
                    continue
                nonce = secrets.token_hex(32)
                row = Invitation(
                    participant_id=visit.participant_id,
                    visit=visit,
                    instrument_id=link.instrument_id,
                    version=versions[link.instrument_id],
                    channel=channel,
                    nonce=nonce,
                    expires_on=visit.window_end,
                )
                row.token_hash = token_hash(token_for(row))
                rows.append(row)
    made = Invitation.objects.bulk_create(rows, ignore_conflicts=True)
    return len(made)


def _stop_reason(invitation: Invitation, day: dt.date) -> str:
    participant = invitation.participant
    # ``has_answer`` is annotated by the locking query in ``send_one``; elsewhere ask.
    has_answer = getattr(invitation, "has_answer", None)
    if has_answer is None:
        has_answer = answered(invitation)
    if invitation.answered_at is not None or has_answer:
        return Invitation.StopReason.ANSWERED
    if participant.status == Participant.Status.WITHDRAWN:
        return Invitation.StopReason.WITHDRAWN
    if participant.status == Participant.Status.LOST:
        return Invitation.StopReason.LOST
    if participant.status != Participant.Status.ACTIVE:
        return Invitation.StopReason.VISIT_CLOSED
    if invitation.visit.missed or invitation.visit.completed_on is not None:
        return Invitation.StopReason.VISIT_CLOSED
    if day > invitation.expires_on:
        return Invitation.StopReason.CLOSED
    contact = getattr(participant, "contact_details", None)
    if contact is None or contact.opted_out_at is not None:
        return Invitation.StopReason.OPTED_OUT
    return ""


def _due(invitation: Invitation, day: dt.date, reminder_days: list[int]) -> str:
    """ "invite", "remind" or "" for nothing due on ``day``."""
    if invitation.sent_at is None:
        if invitation.attempts >= settings.SURVEY_MAX_ATTEMPTS:
            return ""
        return "invite"
    n = invitation.reminders_sent
    if n < len(reminder_days):
        first_day = timezone.localdate(invitation.sent_at)
        if day >= first_day + dt.timedelta(days=reminder_days[n]):
            if invitation.status == Invitation.Status.FAILED and (
                invitation.attempts >= settings.SURVEY_MAX_ATTEMPTS
            ):
                return ""
            return "remind"
    return ""


def build_email(invitation: Invitation, *, reminder: bool) -> EmailMultiAlternatives:
    contact = invitation.participant.contact_details
    with translation.override(contact.language):
        context = _message_context(invitation, reminder=reminder)
        subject = (
            _("Reminder: your questionnaire for %(trial)s")
            if reminder
            else _("Your questionnaire for %(trial)s")
        ) % {"trial": invitation.participant.trial.title}
        text = render_to_string("surveys/email/invitation.txt", context)
        html = render_to_string("surveys/email/invitation.html", context)
    number = invitation.reminders_sent + 1 if reminder else 0
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[contact.email],
        # The provider reports a bounce by this id (``find_by_reference``); no personal data.
        headers={"Message-ID": f"<{reference_for(invitation)}.{number}@{DNS_NAME}>"},
    )
    message.attach_alternative(html, "text/html")
    return message


def sms_text(invitation: Invitation, *, reminder: bool) -> str:
    contact = invitation.participant.contact_details
    with translation.override(contact.language):
        context = _message_context(invitation, reminder=reminder)
        return render_to_string("surveys/sms/invitation.txt", context).strip()


def _message_context(invitation: Invitation, *, reminder: bool) -> dict[str, Any]:
    return {
        "trial": invitation.participant.trial.title,
        "instrument": invitation.instrument.name,
        "url": link_url(invitation),
        "opt_out_url": opt_out_url(invitation),
        "expires_on": invitation.expires_on,
        "reminder": reminder,
    }


def _deliver(invitation: Invitation, *, reminder: bool, mailer: Mailer | None = None) -> None:
    contact = invitation.participant.contact_details
    if invitation.channel == Invitation.Channel.EMAIL:
        message = build_email(invitation, reminder=reminder)
        if mailer is None:
            message.send()
        else:
            mailer.send(message)
    else:
        sms.send_sms(
            contact.phone,
            sms_text(invitation, reminder=reminder),
            reference=reference_for(invitation),
        )


def _permanent(error: Exception) -> bool:
    return isinstance(error, sms.SmsRefused | smtplib.SMTPRecipientsRefused)


# What the stop rules and ``_due`` read, fetched again under the row's lock before each message.
_LOCKED_FIELDS = (
    "nonce",
    "status",
    "sent_at",
    "reminders_sent",
    "attempts",
    "answered_at",
    "expires_on",
    "participant__status",
    "visit__missed",
    "visit__completed_on",
    "participant__contact_details__id",
    "participant__contact_details__updated_at",
    "participant__contact_details__opted_out_at",
)


def _prepared(invitation_ids: list[int]) -> dict[int, Invitation]:
    """The invitations with what their messages need (trial, instrument, contact details), in
    one query for a batch; their state is read again under the lock (``_lock``)."""
    rows = Invitation.objects.select_related(
        "participant__trial", "participant__contact_details", "visit", "instrument"
    ).filter(pk__in=invitation_ids)
    return {row.pk: row for row in rows.order_by()}


@functools.cache
def _locking_query() -> QuerySet[Invitation, dict[str, Any]]:
    """Built once: building it again for every message cost more than running it."""
    answers = Assessment.objects.filter(
        visit_id=OuterRef("visit_id"), instrument_id=OuterRef("instrument_id")
    )
    switched_off = SurveySettings.objects.filter(
        trial_id=OuterRef("participant__trial_id"), links_enabled=False
    )
    return (
        Invitation.objects.select_for_update(of=("self",))
        .order_by()
        .annotate(has_answer=Exists(answers), links_off=Exists(switched_off))
        .values(*_LOCKED_FIELDS, "has_answer", "links_off")
    )


def _lock(invitation: Invitation) -> bool:
    """Lock the invitation's row and bring onto ``invitation`` (and its participant, visit and
    contact details) the state the stop rules read, as it is now; False if the row is gone or
    the trial's links have been switched off (the kill switch, read for each message so that
    switching it off stops a run in progress). One small query, without model instances."""
    found = list(_locking_query().filter(pk=invitation.pk))
    if not found or found[0]["links_off"]:
        return False
    state = found[0]
    for name in _LOCKED_FIELDS[:7]:  # the invitation's own
        setattr(invitation, name, state[name])
    invitation.has_answer = state["has_answer"]  # type: ignore[attr-defined]
    participant = invitation.participant
    participant.status = state["participant__status"]
    invitation.visit.missed = state["visit__missed"]
    invitation.visit.completed_on = state["visit__completed_on"]
    # Contact details changed since the batch was read (a new address, language, opt-out, or
    # erased): read them again, so that the message goes where they say now.
    contact_id = state["participant__contact_details__id"]
    contact = getattr(participant, "contact_details", None)
    changed = state["participant__contact_details__updated_at"]
    if contact is None or contact.pk != contact_id or contact.updated_at != changed:
        contact = ContactDetails.objects.filter(pk=contact_id).first() if contact_id else None
        participant.contact_details = contact
    if contact is not None:
        contact.opted_out_at = state["participant__contact_details__opted_out_at"]
    return True


def send_one(
    invitation_id: int,
    day: dt.date,
    summary: SendSummary,
    *,
    mailer: Mailer | None = None,
    offsets: dict[int, list[int]] | None = None,
    prepared: Invitation | None = None,
) -> None:
    """Send what is due for one invitation, under its row lock: the row is marked sent in the
    transaction that sends, so a second run, a retry or a concurrent worker sends nothing
    more. A refused address or number marks it bounced (never retried); a server that cannot
    be reached counts a failed attempt (retried by the next run, up to SURVEY_MAX_ATTEMPTS).
    A crash between handing the message over and the commit could send it twice; we prefer
    that to losing it (as for the caseworkers' digests). ``mailer`` is the run's mail
    connection (by default one per message), ``offsets`` the run's reminder days by trial,
    ``prepared`` the invitation read beforehand with its message's rows (``_prepared``)."""
    failure: Exception | None = None
    with transaction.atomic():
        invitation = prepared or _prepared([invitation_id]).get(invitation_id)
        if invitation is None or not _lock(invitation):
            return
        if invitation.status in (Invitation.Status.STOPPED, Invitation.Status.BOUNCED):
            return
        reason = _stop_reason(invitation, day)
        if reason:
            invitation.status = Invitation.Status.STOPPED
            invitation.stop_reason = reason
            invitation.save(update_fields=["status", "stop_reason"])
            summary.stopped += 1
            return
        trial = invitation.participant.trial
        if offsets is None:
            offsets = {}
        if trial.pk not in offsets:
            offsets[trial.pk] = SurveySettings.for_trial(trial).reminder_offsets
        due = _due(invitation, day, offsets[trial.pk])
        if not due:
            return
        try:
            _deliver(invitation, reminder=due == "remind", mailer=mailer)
        except (OSError, sms.SmsError) as error:
            failure = error
        else:
            now = timezone.now()
            invitation.status = Invitation.Status.SENT
            invitation.last_sent_at = now
            invitation.last_error = ""
            if due == "invite":
                invitation.sent_at = now
                summary.invited += 1
            else:
                invitation.reminders_sent += 1
                summary.reminded += 1
            invitation.save(
                update_fields=["status", "last_sent_at", "last_error", "sent_at", "reminders_sent"]
            )
            return
    # Outside the sending transaction: the failure is recorded whatever happened there.
    if failure is None:  # every other path returned above
        return
    _record_failure(invitation_id, failure, summary)


def _record_failure(invitation_id: int, failure: Exception, summary: SendSummary) -> None:
    error_text = f"{type(failure).__name__}: {failure}"[:200]
    if _permanent(failure):
        Invitation.objects.filter(pk=invitation_id).update(
            status=Invitation.Status.BOUNCED, last_error=error_text
        )
        summary.bounced += 1
        logger.warning("Participant message %s bounced", invitation_id)
    else:
        invitation = Invitation.objects.get(pk=invitation_id)
        invitation.attempts += 1
        invitation.last_error = error_text
        invitation.status = Invitation.Status.FAILED
        if invitation.attempts >= settings.SURVEY_MAX_ATTEMPTS:
            # Nothing more is tried: stopped, with the reason, not left "will retry".
            invitation.status = Invitation.Status.STOPPED
            invitation.stop_reason = Invitation.StopReason.SEND_FAILED
        invitation.save(update_fields=["attempts", "last_error", "status", "stop_reason"])
        summary.failed += 1
        logger.warning("Participant message %s not sent: %s", invitation_id, type(failure).__name__)


def send_due(day: dt.date) -> SendSummary:
    """Make the day's invitations, then send every first message and reminder due on ``day``
    and stop those whose rules say so. Safe to repeat and to run twice at once. Raises
    DeliveryError at the end when some messages failed for a transient reason (the caller
    retries: only those are sent again).

    The messages go out through several senders at once (``mailer.run_senders``), in batches
    of ``BATCH``, each message under its own row lock (``send_one``)."""
    summary = SendSummary(day=day)
    summary.created = create_invitations(day)
    candidates = (
        Invitation.objects.filter(
            status__in=[
                Invitation.Status.PENDING,
                Invitation.Status.SENT,
                Invitation.Status.FAILED,
            ],
            participant__trial_id__in=_enabled_trials(),
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    pks = list(candidates)
    offsets: dict[int, list[int]] = {}  # the reminder days by trial, read once per run

    def send_batch(batch: list[int], mailer: Mailer, part: SendSummary) -> None:
        prepared = _prepared(batch)
        for pk in batch:
            if pk in prepared:
                send_one(pk, day, part, mailer=mailer, offsets=offsets, prepared=prepared[pk])

    for part in run_senders(pks, BATCH, send_batch, lambda: SendSummary(day=day)):
        summary.add(part)
    logger.info("Participant invitations for %s: %s", day, summary.as_dict())
    if summary.failed:
        raise DeliveryError(day, summary.failed)
    return summary


def record_bounce(
    invitation: Invitation, *, detail: str, actor: User | None, actor_name: str = ""
) -> Invitation:
    """Record that a message came back (a bounce reported later by the mail or SMS provider,
    or noted by staff): no more messages by this channel for this invitation. Audited, under
    ``actor_name`` when no user did it (the provider). Safe to repeat."""
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.status != Invitation.Status.BOUNCED:
            locked.status = Invitation.Status.BOUNCED
            locked.last_error = detail[:200]
            locked.save(update_fields=["status", "last_error"])
            event = audit.build(
                "invitation.bounced",
                locked,
                actor=actor,
                trial=invitation.participant.trial,
                data={"channel": locked.channel},
            )
            if actor_name:
                event.actor_name = actor_name
            event.save()
    return locked


# --- what the mail or SMS provider reports back --------------------------------------------

REFERENCE = re.compile(r"inv-([0-9]{1,18})-([0-9a-f]{20})")


def reference_for(invitation: Invitation) -> str:
    """The invitation's name towards the mail and SMS providers (in the e-mail's Message-ID,
    in the SMS gateway's request): the row id and a keyed tag of its nonce, so that it holds
    no personal data and a guessed one names nothing."""
    tag = salted_hmac("surveys.reference", invitation.nonce, algorithm="sha256").hexdigest()
    return f"inv-{invitation.pk}-{tag[:20]}"


def find_by_reference(text: str) -> Invitation | None:
    """The invitation a reference names, also inside a Message-ID ("<inv-12-…​.0@host>"), or
    None for anything else."""
    match = REFERENCE.search(text or "")
    if match is None:
        return None
    found = (
        Invitation.objects.select_related("participant__trial")
        .filter(pk=int(match.group(1)))
        .first()
    )
    if found is None or not hmac.compare_digest(reference_for(found), match.group(0)):
        return None
    return found


class ProviderEvent:
    BOUNCE = "bounce"
    OPT_OUT = "opt_out"


def record_provider_report(invitation: Invitation, *, event: str, detail: str) -> Invitation:
    """What the mail or SMS provider reported about a message: a bounce (no more messages by
    that channel for the invitation) or an opt-out (the participant asked the provider for no
    more messages: every open invitation of theirs stopped). Audited as the provider's.
    Safe to repeat."""
    if event == ProviderEvent.OPT_OUT:
        opt_out(invitation, through="provider")
        invitation.refresh_from_db()
        return invitation
    return record_bounce(
        invitation, detail=detail or "bounced", actor=None, actor_name=PROVIDER_ACTOR_NAME
    )


def summary_text(invitations: list[Invitation], day: dt.date) -> str:
    """ "invited 3 days ago, reminded once, not answered" for a visit's invitations."""
    from django.utils.translation import ngettext

    sent = [i for i in invitations if i.sent_at is not None]
    if any(i.answered_at for i in invitations):
        return _("answered through the link")
    if not sent:
        if any(i.status == Invitation.Status.BOUNCED for i in invitations):
            return _("invitation bounced")
        if any(i.status == Invitation.Status.FAILED for i in invitations):
            return _("invitation not sent yet: sending failed, will retry")
        if any(i.stop_reason == Invitation.StopReason.SEND_FAILED for i in invitations):
            return _("invitation not sent: sending failed too many times, no more attempts")
        if any(i.stop_reason == "opted_out" for i in invitations):
            return _("opted out of messages")
        return _("invitation not sent yet")
    first = min(timezone.localdate(i.sent_at) for i in sent if i.sent_at)
    days = (day - first).days
    parts = [
        ngettext("invited %(n)d day ago", "invited %(n)d days ago", days) % {"n": days}
        if days
        else _("invited today")
    ]
    reminders = max(i.reminders_sent for i in sent)
    if reminders:
        parts.append(
            ngettext("reminded once", "reminded %(n)d times", reminders) % {"n": reminders}
        )
    if any(i.status == Invitation.Status.BOUNCED for i in invitations):
        parts.append(_("a message bounced"))
    if any(i.stop_reason == "opted_out" for i in invitations):
        parts.append(_("opted out"))
    if any(i.stop_reason == Invitation.StopReason.SEND_FAILED for i in invitations):
        parts.append(_("no more reminders: sending failed too many times"))
    parts.append(_("not answered"))
    return ", ".join(parts)
