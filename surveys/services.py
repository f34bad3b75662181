"""Participant questionnaires: each trial's settings and the participants' contact details.

The rest lives by sub-domain: ``surveys.links`` (tokens, finding a link, saved answers,
submitting, opting out) and ``surveys.delivery`` (making and sending invitations and
reminders, bounces). Their public names stay importable from here, where callers before the
split found them.
"""

from __future__ import annotations

import re

from django.contrib.auth.models import User
from django.core.validators import validate_email
from django.db import transaction
from django.forms import ValidationError
from django.utils.translation import gettext as _

from surveys.delivery import (
    DeliveryError,
    SendSummary,
    build_email,
    create_invitations,
    record_bounce,
    send_due,
    send_one,
    sms_text,
    summary_text,
)
from surveys.links import (
    PARTICIPANT_ACTOR_NAME,
    LinkUnusable,
    answered,
    draft_for,
    find_invitation,
    link_url,
    mark_opened,
    opt_out,
    opt_out_url,
    save_answer,
    submit_answers,
    token_for,
)
from surveys.models import ContactDetails, SurveySettings
from trial import audit, personal_numbers
from trial.models import Participant, Trial
from trial.services import TrialError

__all__ = [
    "PARTICIPANT_ACTOR_NAME",
    "DeliveryError",
    "LinkUnusable",
    "SendSummary",
    "SurveyError",
    "answered",
    "build_email",
    "create_invitations",
    "draft_for",
    "find_invitation",
    "link_url",
    "mark_opened",
    "normalise_phone",
    "opt_out",
    "opt_out_url",
    "record_bounce",
    "save_answer",
    "send_due",
    "send_one",
    "set_contact_details",
    "settings_for",
    "sms_text",
    "submit_answers",
    "summary_text",
    "token_for",
    "update_settings",
]


class SurveyError(TrialError):
    """A rule of participant questionnaires was broken (shown to the user as it is)."""


# --- settings ----------------------------------------------------------------------------


def settings_for(trial: Trial) -> SurveySettings:
    """The trial's settings (unsaved defaults when it has none)."""
    return SurveySettings.for_trial(trial)


def update_settings(
    trial: Trial, *, links_enabled: bool, reminder_days: str, actor: User | None
) -> SurveySettings:
    """Switch a trial's participant links on or off and set its reminder days (audited).
    Raises SurveyError for reminder days that are not whole numbers from 1 to 365."""
    from surveys.models import parse_reminder_days

    try:
        days = parse_reminder_days(reminder_days)
    except ValueError:
        raise SurveyError(
            _("Give reminder days as whole numbers from 1 to 365, e.g. 3, 7."),
            field="reminder_days",
        ) from None
    with transaction.atomic():
        row, _created = SurveySettings.objects.select_for_update().get_or_create(trial=trial)
        before = audit.snapshot(row)
        row.links_enabled = links_enabled
        row.reminder_days = ", ".join(str(d) for d in days)
        row.save()
        audit.record_changed(row, before, actor=actor)
    return row


# --- contact details ---------------------------------------------------------------------

PHONE = re.compile(r"^\+?[0-9]{8,15}$")


def normalise_phone(raw: str) -> str:
    """Digits with an optional leading +; a Norwegian 8-digit number gets +47."""
    text = re.sub(r"[\s().-]", "", raw or "")
    if not text:
        return ""
    if text.startswith("00"):
        text = "+" + text[2:]
    if not PHONE.match(text):
        raise SurveyError(_("Enter a phone number of 8 to 15 digits."), field="phone")
    if len(text) == 8 and not text.startswith("+"):
        text = "+47" + text
    return text


def set_contact_details(
    participant: Participant,
    *,
    email: str,
    phone: str,
    language: str,
    actor: User | None,
) -> ContactDetails:
    """Store how to reach a participant (encrypted) and their language. The audit event says
    which details changed, never their values. Raises SurveyError for an invalid e-mail
    address or phone number. Safe to repeat."""
    email = (email or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise SurveyError(_("Enter a valid e-mail address."), field="email") from None
    number = normalise_phone(phone)
    if language not in {"nb", "en"}:
        raise SurveyError(_("Choose bokmål or English."), field="language")
    with transaction.atomic():
        row, _created = ContactDetails.objects.select_for_update().get_or_create(
            participant=participant
        )
        changed = []
        if email != row.email:
            row.email_encrypted = personal_numbers.encrypt(email) if email else ""
            changed.append("email")
        if number != row.phone:
            row.phone_encrypted = personal_numbers.encrypt(number) if number else ""
            changed.append("phone")
        if language != row.language:
            row.language = language
            changed.append("language")
        row.save()
        if changed:
            audit.record(
                "participant.contact_details_changed",
                participant,
                actor=actor,
                data={"changed": changed, "language": row.language},
            )
    return row
