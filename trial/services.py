"""Writes to trials and participants. Each service checks the rules, writes, and audits.

The checks of baseline covariates are in ``trial.baseline``, the error in ``trial.errors``;
both are named here too, where the rest of the project imports them.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trial import audit, bulk, personal_numbers
from trial.baseline import BaselineError as BaselineError
from trial.baseline import EligibilityError as EligibilityError
from trial.baseline import eligibility_problems as eligibility_problems
from trial.baseline import validate_baseline as validate_baseline
from trial.errors import TrialError as TrialError
from trial.models import (
    AuditEvent,
    ExclusionReason,
    LossToFollowUp,
    Participant,
    ScreeningRecord,
    Site,
    Trial,
    Visit,
    Withdrawal,
)

# Crockford's base32 without the letters people confuse (I, L, O, U).
STUDY_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
STUDY_ID_LENGTH = 6
# A study id given by an earlier system (an import): it appears in URLs and file names.
GIVEN_STUDY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,29}")


def random_study_suffix() -> str:
    return "".join(secrets.choice(STUDY_ID_ALPHABET) for _ in range(STUDY_ID_LENGTH))


@dataclass
class Enrolment:
    """A checked enrolment, not yet written (:func:`prepare_enrolment`)."""

    participant: Participant
    outside: dict[str, str]
    """Baseline values outside the eligibility ranges, accepted with a warning."""


def _check_consent(
    trial: Trial,
    site: Site,
    enrolled_on: dt.date,
    consent_version: str,
    consent_date: dt.date,
    screening: ScreeningRecord | None,
) -> None:
    """The site, dates, consent and screening record of an enrolment (TrialError)."""
    if site.trial_id != trial.pk:
        raise TrialError(_("The site does not belong to this trial."), field="site")
    today = timezone.localdate()
    if enrolled_on > today:
        raise TrialError(_("The enrolment date cannot be in the future."), field="enrolled_on")
    if not consent_version.strip():
        raise TrialError(_("Give the version of the consent form signed."), field="consent_version")
    if consent_date > today:
        raise TrialError(_("The consent date cannot be in the future."), field="consent_date")
    if consent_date > enrolled_on:
        raise TrialError(
            _("Consent must be given on or before the enrolment date."), field="consent_date"
        )
    if screening is not None and (
        screening.trial_id != trial.pk
        or screening.site_id != site.pk
        or not screening.eligible
        or screening.declined
        or screening.participant_id is not None
    ):
        raise TrialError(
            _("The screening record is not an unused eligible record at this site."),
            field="screening",
        )


def prepare_enrolment(
    trial: Trial,
    *,
    site: Site,
    personal_number: str | None,
    enrolled_on: dt.date,
    consent_version: str,
    consent_date: dt.date,
    baseline: dict[str, Any] | None = None,
    screening: ScreeningRecord | None = None,
    study_id: str | None = None,
    accept_ineligible: bool = False,
    enrolled: Mapping[str, str] | None = None,
) -> Enrolment:
    """Check one enrolment by every rule of :func:`enrol_participant` and return the
    participant to write (unsaved; ``study_id`` None leaves its id to be drawn).

    ``enrolled`` maps personal-number hashes to the study ids of the trial's participants, for
    callers that check many people with one query (the import); without it the database is
    asked. Raises TrialError as :func:`enrol_participant` does. Writes nothing.
    """
    _check_consent(trial, site, enrolled_on, consent_version, consent_date, screening)
    if study_id is not None and not GIVEN_STUDY_ID.fullmatch(study_id):
        raise TrialError(
            _("A study id has 1 to 30 letters, digits, dots, hyphens or underscores."),
            field="study_id",
        )
    number: str | None = None
    if personal_number is not None:
        try:
            number = personal_numbers.validate_personal_number(personal_number)
        except ValidationError as exc:
            raise TrialError(" ".join(exc.messages), field="personal_number") from None
    clean_baseline = (
        validate_baseline(trial, baseline or {})
        if trial.covariates.exists()
        else dict(baseline or {})
    )
    outside = eligibility_problems(trial, clean_baseline)
    if outside and (
        trial.eligibility_check == Trial.EligibilityCheck.REFUSE or not accept_ineligible
    ):
        raise EligibilityError(
            outside, refused=trial.eligibility_check == Trial.EligibilityCheck.REFUSE
        )
    digest = personal_numbers.lookup_hash(number) if number is not None else None
    if digest is not None:
        existing = (
            enrolled.get(digest)
            if enrolled is not None
            else Participant.objects.filter(trial=trial, personal_number_hash=digest)
            .values_list("study_id", flat=True)
            .first()
        )
        if existing is not None:
            raise TrialError(
                _("This person is already enrolled in the trial as %(study_id)s.")
                % {"study_id": existing},
                field="personal_number",
            )
    participant = Participant(
        trial=trial,
        site=site,
        study_id=study_id or "",
        personal_number_encrypted=personal_numbers.encrypt(number) if number else "",
        personal_number_hash=digest,
        enrolled_on=enrolled_on,
        consent_version=consent_version.strip(),
        consent_date=consent_date,
        baseline=clean_baseline,
    )
    return Enrolment(participant, outside)


def enrol_participant(
    trial: Trial,
    *,
    site: Site,
    personal_number: str | None,
    enrolled_on: dt.date,
    consent_version: str,
    consent_date: dt.date,
    baseline: dict[str, Any] | None = None,
    screening: ScreeningRecord | None = None,
    actor: User | None,
    suffix: Callable[[], str] = random_study_suffix,
    study_id: str | None = None,
    accept_ineligible: bool = False,
) -> Participant:
    """Enrol one consenting person, giving them a site-prefixed, non-guessable study id.

    ``study_id`` keeps the id an earlier system gave (an import) instead of drawing one, and
    ``personal_number=None`` enrols without a number: only for a pseudonymised data set loaded
    by the trial import; the enrolment form and the API always require a number.

    A baseline value outside its covariate's eligibility range is refused (EligibilityError)
    when the trial refuses such values; when it warns, it is refused unless
    ``accept_ineligible`` (the user confirmed the warning), and then enrolled with a
    ``participant.enrolled_outside_eligibility`` audit event naming the values.

    Raises TrialError for an invalid personal number, a site of another trial, dates in the
    future, missing consent, invalid baseline covariates (BaselineError, one message per
    covariate), values outside the eligibility ranges (EligibilityError, see above), a
    screening record that is not an eligible, unused one of this site, a person already
    enrolled in the trial, or a given study id that is malformed or taken. Not safe to repeat:
    a second call for the same person is refused as a duplicate.
    """
    enrolment = prepare_enrolment(
        trial,
        site=site,
        personal_number=personal_number,
        enrolled_on=enrolled_on,
        consent_version=consent_version,
        consent_date=consent_date,
        baseline=baseline,
        screening=screening,
        study_id=study_id,
        accept_ineligible=accept_ineligible,
    )
    participant = enrolment.participant
    digest = participant.personal_number_hash
    for _attempt in range(10):
        try:
            with transaction.atomic():
                participant.pk = None
                participant.study_id = study_id or f"{site.code}-{suffix()}"
                participant.save(force_insert=True)
                if screening is not None:
                    screening.participant = participant
                    screening.save(update_fields=["participant"])
                audit.record_many(enrolment_events([enrolment], actor=actor))
                return participant
        except IntegrityError:
            if (
                digest is not None
                and Participant.objects.filter(trial=trial, personal_number_hash=digest).exists()
            ):
                raise TrialError(
                    _("This person is already enrolled in the trial."), field="personal_number"
                ) from None
            if study_id is not None:
                raise TrialError(
                    _("The trial has a participant with this study id already."),
                    field="study_id",
                ) from None
            continue  # study id collision: draw another
    raise TrialError(_("Could not draw a free study id; try again."))


def enrolment_events(enrolments: list[Enrolment], *, actor: User | None) -> list[AuditEvent]:
    """The audit events of written enrolments (unsaved, for ``audit.record_many``): each
    participant's ``participant.created`` and, for values outside the eligibility ranges
    accepted with a warning, ``participant.enrolled_outside_eligibility``."""
    events = []
    for enrolment in enrolments:
        participant = enrolment.participant
        events.append(
            audit.build(
                "participant.created",
                participant,
                actor=actor,
                trial=participant.trial,
                data={"after": audit.snapshot(participant)},
            )
        )
        if enrolment.outside:
            events.append(
                audit.build(
                    "participant.enrolled_outside_eligibility",
                    participant,
                    actor=actor,
                    trial=participant.trial,
                    data={
                        "covariates": {key: participant.baseline[key] for key in enrolment.outside}
                    },
                )
            )
    return events


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, clipped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(day.day, last))


def record_screening(
    trial: Trial,
    *,
    site: Site,
    screened_on: dt.date,
    eligible: bool,
    exclusion_reason: ExclusionReason | None = None,
    declined: bool = False,
    actor: User | None,
) -> ScreeningRecord:
    """Log one person assessed for eligibility (no identity is stored).

    Raises TrialError when the outcome is inconsistent (ineligible without a reason, a reason
    for an eligible person, declined while ineligible) or the date is in the future.
    """
    if site.trial_id != trial.pk:
        raise TrialError(_("The site does not belong to this trial."), field="site")
    if screened_on > timezone.localdate():
        raise TrialError(_("The screening date cannot be in the future."), field="screened_on")
    if not eligible and exclusion_reason is None:
        raise TrialError(
            _("Give the reason the person was not eligible."), field="exclusion_reason"
        )
    if eligible and exclusion_reason is not None:
        raise TrialError(_("An eligible person has no exclusion reason."), field="exclusion_reason")
    if exclusion_reason is not None and exclusion_reason.trial_id != trial.pk:
        raise TrialError(_("Unknown exclusion reason."), field="exclusion_reason")
    if declined and not eligible:
        raise TrialError(_("Only an eligible person can decline."), field="declined")
    with transaction.atomic():
        record = ScreeningRecord.objects.create(
            trial=trial,
            site=site,
            screened_on=screened_on,
            eligible=eligible,
            exclusion_reason=exclusion_reason,
            declined=declined,
            screened_by=actor,
        )
        audit.record_created(record, actor=actor)
    return record


def ensure_data_entry_allowed(participant: Participant) -> None:
    """Raise TrialError if the participant withdrew: no new data may be recorded for them.

    A participant lost to follow-up is not refused: data arriving for them means they were found
    again (``mark_found_again``), and the data are kept."""
    if participant.status == Participant.Status.WITHDRAWN:
        withdrawal = getattr(participant, "withdrawal", None)
        when = withdrawal.withdrawn_on.isoformat() if withdrawal else ""
        raise TrialError(
            _(
                "%(study_id)s withdrew from the trial on %(date)s: no new data may be "
                "recorded for them."
            )
            % {"study_id": participant.study_id, "date": when}
        )


R = TypeVar("R", bound=models.Model)


def _leave_active(
    participant: Participant,
    record: type[R],
    status: str,
    *,
    refused_from: Mapping[str, str],
    actor: User | None,
    values: dict[str, Any],
) -> R:
    """With the participant's row locked, refuse if their status is in ``refused_from`` (with
    its message); else create the ``record`` (from ``values``) that says why they leave active
    follow-up and move them to ``status``, both audited."""
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        if locked.status in refused_from:
            raise TrialError(refused_from[locked.status])
        before = audit.snapshot(locked)
        created = record._default_manager.create(participant=locked, recorded_by=actor, **values)
        locked.status = status
        locked.save(update_fields=["status"])
        audit.record_created(created, actor=actor)
        audit.record_changed(locked, before, actor=actor)
    participant.status = locked.status
    return created


def withdraw_participant(
    participant: Participant,
    *,
    withdrawn_on: dt.date,
    scope: str,
    reason: str,
    actor: User | None,
) -> Withdrawal:
    """Record a withdrawal. The participant stays in every count (ITT); open visits close.

    Raises TrialError if already withdrawn, if the date is in the future or before
    enrolment, or if the scope is unknown. Not repeatable: a second call is refused.
    """
    if participant.status == Participant.Status.WITHDRAWN:
        raise TrialError(_("The participant has already withdrawn."))
    if scope not in Withdrawal.Scope.values:
        raise TrialError(_("Choose what the participant allowed."), field="scope")
    if not reason.strip():
        raise TrialError(_("Give the reason, as the participant stated it."), field="reason")
    if withdrawn_on > timezone.localdate():
        raise TrialError(_("The withdrawal date cannot be in the future."), field="withdrawn_on")
    if withdrawn_on < participant.enrolled_on:
        raise TrialError(_("The withdrawal date cannot be before enrolment."), field="withdrawn_on")
    return _leave_active(
        participant,
        Withdrawal,
        Participant.Status.WITHDRAWN,
        refused_from={Participant.Status.WITHDRAWN: _("The participant has already withdrawn.")},
        actor=actor,
        values={"withdrawn_on": withdrawn_on, "scope": scope, "reason": reason.strip()},
    )


def mark_lost_to_follow_up(
    participant: Participant,
    *,
    lost_on: dt.date,
    reason: str,
    detail: str = "",
    actor: User | None,
) -> LossToFollowUp:
    """Record that the trial can no longer reach a participant.

    They stay in every count (ITT) and reminders stop; unlike a withdrawal it can be undone with
    ``mark_found_again`` when they turn up. Only active participants can be lost.
    """
    if participant.status != Participant.Status.ACTIVE:
        raise TrialError(
            _("Only an active participant can be lost to follow-up (this one is %(status)s).")
            % {"status": participant.get_status_display()}
        )
    if reason not in LossToFollowUp.Reason.values:
        raise TrialError(_("Choose a reason."), field="reason")
    if lost_on > timezone.localdate():
        raise TrialError(_("The date cannot be in the future."), field="lost_on")
    if lost_on < participant.enrolled_on:
        raise TrialError(_("The date cannot be before enrolment."), field="lost_on")
    no_longer = _("The participant is no longer active.")
    return _leave_active(
        participant,
        LossToFollowUp,
        Participant.Status.LOST,
        refused_from={s: no_longer for s in Participant.Status if s != Participant.Status.ACTIVE},
        actor=actor,
        values={"lost_on": lost_on, "reason": reason, "detail": detail.strip()},
    )


def mark_found_again(participant: Participant, *, actor: User | None) -> None:
    """Undo a loss to follow-up: the participant is active again (the audit trail keeps both)."""
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        if locked.status != Participant.Status.LOST:
            raise TrialError(_("The participant is not lost to follow-up."))
        loss = LossToFollowUp.objects.get(participant=locked)
        before = audit.snapshot(locked)
        audit.record_deleted(loss, actor=actor)
        loss.delete()
        locked.status = Participant.Status.ACTIVE
        locked.save(update_fields=["status"])
        audit.record_changed(locked, before, actor=actor)
    participant.status = locked.status


def generate_visits(participant: Participant, *, randomised_on: dt.date) -> list[Visit]:
    """Create the participant's follow-up visits from the trial's schedule.

    Safe to repeat: visits that exist already are kept as they are. Called by the
    randomisation service inside its transaction.
    """
    return schedule_visits(participant.trial, [(participant, randomised_on)])


def schedule_visits(trial: Trial, randomised: list[tuple[Participant, dt.date]]) -> list[Visit]:
    """:func:`generate_visits` for many participants of ``trial`` at once (each with its
    randomisation date), in three statements whatever their number. Safe to repeat."""
    definitions = list(trial.visit_definitions.all())
    if not definitions or not randomised:
        return []
    existing = set(
        Visit.objects.filter(
            participant__in=[participant.pk for participant, _day in randomised]
        ).values_list("participant_id", "definition_id")
    )
    new = []
    for participant, randomised_on in randomised:
        for definition in definitions:
            if (participant.pk, definition.pk) in existing:
                continue
            due = add_months(randomised_on, definition.offset_months)
            new.append(
                Visit(
                    participant=participant,
                    definition=definition,
                    due_on=due,
                    window_start=due - dt.timedelta(days=definition.window_before_days),
                    window_end=due + dt.timedelta(days=definition.window_after_days),
                )
            )
    bulk.insert(new)
    return new


def mark_visit_missed(visit: Visit, *, actor: User | None) -> Visit:
    """Close an open visit as missed. Raises TrialError if it is closed already."""
    with transaction.atomic():
        locked = Visit.objects.select_for_update().get(pk=visit.pk)
        if locked.completed_on is not None or locked.missed:
            raise TrialError(_("This visit is closed already."))
        before = audit.snapshot(locked)
        locked.missed = True
        locked.save(update_fields=["missed"])
        audit.record_changed(locked, before, actor=actor)
    return locked
