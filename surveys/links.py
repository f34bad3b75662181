"""A participant's link: its token, finding the invitation a token opens, the answers saved
through it, submitting them, and opting out of messages.

Tokens are derived, not stored: an HMAC of the invitation's random nonce under the secret key,
found again by its SHA-256 hash (docs/decisions.md, issue 21). Every unusable link raises the
same ``LinkUnusable``, so that a link's existence cannot be probed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from instruments.models import Assessment
from instruments.services import record_assessment
from surveys import flow
from surveys.models import ContactDetails, Draft, Invitation, SurveySettings
from trial import audit
from trial.models import Participant

PARTICIPANT_ACTOR_NAME = "participant (link)"
"""The audit trail's name for what a participant did through their link."""

PROVIDER_ACTOR_NAME = "mail/SMS provider"
"""The audit trail's name for what the mail or SMS provider reported (bounces, opt-outs)."""


class LinkUnusable(Exception):
    """The token names no usable link: unknown, expired, stopped, or its trial switched links
    off. One answer for all, so that a link's existence cannot be probed."""


# --- links -------------------------------------------------------------------------------


def token_for(invitation: Invitation) -> str:
    """The link's token: an HMAC of the row's random nonce under the secret key, so the same
    link can be sent again in a reminder without storing it."""
    return salted_hmac("surveys.link", invitation.nonce, algorithm="sha256").hexdigest()


def token_hash(token: str) -> str:
    """What the database keeps to find a token again."""
    return hashlib.sha256(token.encode()).hexdigest()


def link_url(invitation: Invitation) -> str:
    return settings.SITE_URL + reverse("surveys:answer", args=[token_for(invitation)])


def opt_out_url(invitation: Invitation) -> str:
    return settings.SITE_URL + reverse("surveys:opt_out", args=[token_for(invitation)])


TOKEN = re.compile(r"^[0-9a-f]{64}$")


def find_invitation(token: str, *, today: dt.date | None = None) -> Invitation:
    """The invitation a token opens, or LinkUnusable (unknown, expired, stopped for any
    reason but an answer, or links switched off): one answer for all. An answered link is
    returned (its page says it is answered)."""
    if not TOKEN.match(token or ""):
        raise LinkUnusable
    found = (
        Invitation.objects.select_related(
            "participant__trial", "visit__definition", "instrument", "version"
        )
        .filter(token_hash=token_hash(token))
        .first()
    )
    if found is None:
        raise LinkUnusable
    day = today or timezone.localdate()
    if not SurveySettings.for_trial(found.participant.trial).links_enabled:
        raise LinkUnusable
    if found.answered_at is not None or answered(found):
        return found
    if (
        day > found.expires_on
        or found.participant.status != Participant.Status.ACTIVE
        or found.visit.missed
        or found.status == Invitation.Status.STOPPED
    ):
        raise LinkUnusable
    return found


def answered(invitation: Invitation) -> bool:
    return Assessment.objects.filter(
        visit_id=invitation.visit_id, instrument_id=invitation.instrument_id
    ).exists()


def mark_opened(invitation: Invitation) -> None:
    if invitation.opened_at is None:
        Invitation.objects.filter(pk=invitation.pk, opened_at__isnull=True).update(
            opened_at=timezone.now()
        )


# --- answers through a link ---------------------------------------------------------------


def draft_for(invitation: Invitation) -> Draft:
    """The link's saved answers (unsaved and empty when there are none yet: reading a page
    writes nothing)."""
    found = Draft.objects.filter(
        visit_id=invitation.visit_id, instrument_id=invitation.instrument_id
    ).first()
    return found or Draft(visit_id=invitation.visit_id, instrument_id=invitation.instrument_id)


def save_answer(
    invitation: Invitation, *, name: str, value: Any, missing_code: str | None
) -> Draft:
    """Keep one item's answer (or its missing-data code) in the link's saved answers. The
    caller has checked it (``flow.check_item``). Safe to repeat."""
    with transaction.atomic():
        draft, _created = Draft.objects.select_for_update().get_or_create(
            visit_id=invitation.visit_id, instrument_id=invitation.instrument_id
        )
        values = dict(draft.values)
        missing = dict(draft.missing)
        values.pop(name, None)
        missing.pop(name, None)
        if missing_code:
            missing[name] = missing_code
        elif value not in (None, "", []):
            values[name] = value
        draft.values = values
        draft.missing = missing
        draft.save()
    return draft


def submit_answers(invitation: Invitation) -> Assessment:
    """Record the link's saved answers as the participant's assessment (``record_assessment``
    with source participant, no actor, under the version the link was sent for), stop every
    link and reminder for this instrument at this visit, delete the saved answers, and audit
    it as done by the participant through a link (channel, version, time). Raises
    AnswersError (per item) or TrialError (answered already, withdrawn, visit closed).
    Not safe to repeat: the second call finds the instrument answered."""
    definition = invitation.version.parsed
    draft = draft_for(invitation)
    values, missing = flow.submission(definition, draft.values, draft.missing)
    with transaction.atomic():
        assessment = record_assessment(
            invitation.visit,
            values=values,
            missing=missing,
            actor=None,
            instrument=invitation.instrument,
            version=invitation.version,
            source=Assessment.Source.PARTICIPANT,
        )
        now = timezone.now()
        Invitation.objects.filter(
            visit_id=invitation.visit_id, instrument_id=invitation.instrument_id
        ).update(answered_at=now, status=Invitation.Status.STOPPED, stop_reason="answered")
        Draft.objects.filter(
            visit_id=invitation.visit_id, instrument_id=invitation.instrument_id
        ).delete()
        event = audit.build(
            "assessment.answered_by_participant",
            assessment,
            actor=None,
            trial=invitation.participant.trial,
            data={
                "by": "participant",
                "through": "link",
                "channel": invitation.channel,
                "version": invitation.version.number,
                "at": now.isoformat(),
            },
        )
        event.actor_name = PARTICIPANT_ACTOR_NAME
        event.save()
    return assessment


def opt_out(invitation: Invitation, *, through: str = "link") -> ContactDetails:
    """The participant asks for no more messages: recorded on their contact details, every
    open invitation of theirs stopped, audited as theirs (``through`` the link, or reported
    by the mail or SMS ``provider``). Safe to repeat."""
    with transaction.atomic():
        contact, _created = ContactDetails.objects.select_for_update().get_or_create(
            participant_id=invitation.participant_id
        )
        if contact.opted_out_at is None:
            contact.opted_out_at = timezone.now()
            contact.save(update_fields=["opted_out_at", "updated_at"])
            Invitation.objects.filter(participant_id=invitation.participant_id).exclude(
                status=Invitation.Status.STOPPED
            ).update(status=Invitation.Status.STOPPED, stop_reason="opted_out")
            event = audit.build(
                "participant.opted_out",
                invitation.participant,
                actor=None,
                data={"through": through, "channel": invitation.channel},
            )
            event.actor_name = (
                PROVIDER_ACTOR_NAME if through == "provider" else PARTICIPANT_ACTOR_NAME
            )
            event.save()
    return contact
