"""Writes to trials and participants. Each service checks the rules, writes, and audits."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trial import audit, personal_numbers
from trial.models import Participant, Site, Trial

# Crockford's base32 without the letters people confuse (I, L, O, U).
STUDY_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
STUDY_ID_LENGTH = 6


class TrialError(Exception):
    """A trial rule was broken; ``field`` names the input at fault, if any."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def random_study_suffix() -> str:
    return "".join(secrets.choice(STUDY_ID_ALPHABET) for _ in range(STUDY_ID_LENGTH))


def enrol_participant(
    trial: Trial,
    *,
    site: Site,
    personal_number: str,
    enrolled_on: dt.date,
    baseline: dict[str, Any] | None = None,
    actor: AbstractBaseUser | None,
    suffix: Callable[[], str] = random_study_suffix,
) -> Participant:
    """Enrol one person, giving them a site-prefixed, non-guessable study id.

    Raises TrialError for an invalid personal number, a site of another trial, a date in the
    future, or a person already enrolled in the trial. Not safe to repeat: a second call for
    the same person is refused as a duplicate.
    """
    if site.trial_id != trial.pk:
        raise TrialError(_("The site does not belong to this trial."), field="site")
    if enrolled_on > timezone.localdate():
        raise TrialError(_("The enrolment date cannot be in the future."), field="enrolled_on")
    try:
        number = personal_numbers.validate_personal_number(personal_number)
    except Exception as exc:  # ValidationError carries the reason
        messages = getattr(exc, "messages", [str(exc)])
        raise TrialError(" ".join(messages), field="personal_number") from None
    digest = personal_numbers.lookup_hash(number)
    existing = Participant.objects.filter(trial=trial, personal_number_hash=digest).first()
    if existing is not None:
        raise TrialError(
            _("This person is already enrolled in the trial as %(study_id)s.")
            % {"study_id": existing.study_id},
            field="personal_number",
        )
    for _attempt in range(10):
        try:
            with transaction.atomic():
                participant = Participant.objects.create(
                    trial=trial,
                    site=site,
                    study_id=f"{site.code}-{suffix()}",
                    personal_number_encrypted=personal_numbers.encrypt(number),
                    personal_number_hash=digest,
                    enrolled_on=enrolled_on,
                    baseline=baseline or {},
                )
                audit.record_created(participant, actor=actor)
                return participant
        except IntegrityError:
            if Participant.objects.filter(trial=trial, personal_number_hash=digest).exists():
                raise TrialError(
                    _("This person is already enrolled in the trial."), field="personal_number"
                ) from None
            continue  # study id collision: draw another
    raise TrialError(_("Could not draw a free study id; try again."))
