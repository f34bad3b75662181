"""Electronic consent: keeping a trial's consent texts, recording a participant's consent or
refusal (through their link or on a staff device) with its PDF snapshot, the coordinator's
download of that PDF, and withdrawal through the link (trial's withdrawal service).

Requests and their delivery are in ``surveys.consent.delivery``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from surveys.consent import pdf
from surveys.consent.models import ConsentRecord, ConsentRequest, ConsentText
from surveys.consent.text import Shown, shown
from trial import audit, personal_numbers
from trial.models import AuditEvent, Participant, Trial, Withdrawal
from trial.services import TrialError, withdraw_participant

PARTICIPANT_ACTOR_NAME = "participant (link)"
"""The audit trail's name for what a participant did through their link (as in surveys)."""

NAME_MAX = 200


class ConsentError(TrialError):
    """A rule of electronic consent was broken (shown to the user as it is)."""


# --- texts -------------------------------------------------------------------------------


def _check_text(version: str, text_nb: str, text_en: str) -> None:
    if not version.strip():
        raise ConsentError(_("Give the version label."), field="version")
    if not text_nb.strip():
        raise ConsentError(_("Give the text in bokmål."), field="text_nb")
    if not text_en.strip():
        raise ConsentError(_("Give the text in English."), field="text_en")


def save_text(
    trial: Trial,
    *,
    version: str,
    text_nb: str,
    text_en: str,
    effective_on: dt.date,
    actor: User,
    draft: ConsentText | None = None,
) -> ConsentText:
    """Create a draft consent text (``draft`` None) or edit a draft. A published version is
    never changed: editing one raises ConsentError (make a new version). Raises ConsentError
    for an empty label or text, or a label the trial already uses. Audited."""
    _check_text(version, text_nb, text_en)
    values = {
        "version": version.strip(),
        "text_nb": text_nb.strip(),
        "text_en": text_en.strip(),
        "effective_on": effective_on,
    }
    same_label = ConsentText.objects.filter(trial=trial, version=values["version"])
    if draft is not None:
        same_label = same_label.exclude(id=draft.id)
    if same_label.exists():
        raise ConsentError(_("This trial already has a version with this label."), field="version")
    try:
        with transaction.atomic():
            if draft is None:
                row = ConsentText.objects.create(trial=trial, created_by=actor, **values)
                audit.record_created(row, actor=actor)
                return row
            row = ConsentText.objects.select_for_update().get(pk=draft.pk, trial=trial)
            if row.published:
                raise ConsentError(
                    _("A published consent text cannot be changed; make a new version.")
                )
            before = audit.snapshot(row)
            for name, value in values.items():
                setattr(row, name, value)
            row.save()
            audit.record_changed(row, before, actor=actor)
            return row
    except IntegrityError:  # the same label saved at the same moment
        raise ConsentError(
            _("This trial already has a version with this label."), field="version"
        ) from None


def publish_text(text: ConsentText, *, actor: User) -> ConsentText:
    """Publish a draft: from now on it is immutable and can be shown to participants (from
    its effective date). Raises ConsentError if it is published already. Audited."""
    with transaction.atomic():
        row = ConsentText.objects.select_for_update().get(pk=text.pk)
        if row.published:
            raise ConsentError(_("This version is published already."))
        before = audit.snapshot(row)
        row.status = ConsentText.Status.PUBLISHED
        row.published_at = timezone.now()
        row.save(update_fields=["status", "published_at"])
        audit.record_changed(row, before, actor=actor)
    return row


@dataclass(frozen=True)
class Counts:
    asked: int
    consented: int
    declined: int


def counts_for(texts: list[ConsentText]) -> dict[int, Counts]:
    """Per version: participants asked through a link, and answers recorded (any channel)."""
    from django.db.models import Count, Q

    ids = [t.pk for t in texts]
    asked = dict(
        ConsentRequest.objects.filter(text_id__in=ids)
        .values_list("text_id")
        .annotate(n=Count("pk"))
        .values_list("text_id", "n")
    )
    answers: dict[int, Any] = {
        row["text_id"]: row
        for row in ConsentRecord.objects.filter(text_id__in=ids)
        .values("text_id")
        .annotate(
            consented=Count("participant", distinct=True, filter=Q(outcome="consented")),
            declined=Count("participant", distinct=True, filter=Q(outcome="declined")),
        )
    }
    return {
        pk: Counts(
            asked.get(pk, 0),
            answers.get(pk, {}).get("consented", 0),
            answers.get(pk, {}).get("declined", 0),
        )
        for pk in ids
    }


# --- recording consent -------------------------------------------------------------------


def _as_participant(event: AuditEvent, channel: str) -> AuditEvent:
    if channel == ConsentRecord.Channel.LINK:
        event.actor_name = PARTICIPANT_ACTOR_NAME
    return event


def _check_answer(
    participant: Participant, text: ConsentText, language: str, shown_sha256: str
) -> Shown:
    if participant.status != Participant.Status.ACTIVE:
        raise ConsentError(_("This participant is no longer active in the study."))
    if not text.published or text.trial_id != participant.trial_id:
        raise ConsentError(_("This consent text is not published for the trial."))
    screen = shown(text, language)
    if shown_sha256 != screen.sha256:
        raise ConsentError(_("The consent text has changed since it was shown. Read it again."))
    return screen


def record_consent(
    participant: Participant,
    text: ConsentText,
    *,
    language: str,
    channel: str,
    shown_sha256: str,
    typed_name: str,
    signed_on: dt.date | None,
    actor: User | None,
    request: ConsentRequest | None = None,
) -> ConsentRecord:
    """Record that the participant confirmed ``text`` as shown in ``language`` (the screen's
    hash must match the text's rendering now), by typing their name and today's date: the
    record with the typed name encrypted, its PDF snapshot, the participant's consent version
    and date, the request closed, all audited (never the name). Raises ConsentError for an
    empty name, a date other than today, a changed text, an unpublished version or a
    participant no longer active. Not idempotent: each call is one more signed record."""
    name = " ".join((typed_name or "").split())
    if not name:
        raise ConsentError(_("Type your full name."), field="typed_name")
    if len(name) > NAME_MAX:
        raise ConsentError(_("The name is too long."), field="typed_name")
    today = timezone.localdate()
    if signed_on != today:
        raise ConsentError(
            _("Type today's date (%(today)s).") % {"today": today.strftime("%d.%m.%Y")},
            field="signed_on",
        )
    screen = _check_answer(participant, text, language, shown_sha256)
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        if locked.status != Participant.Status.ACTIVE:
            raise ConsentError(_("This participant is no longer active in the study."))
        record = ConsentRecord.objects.create(
            participant=locked,
            text=text,
            request=request,
            outcome=ConsentRecord.Outcome.CONSENTED,
            language=screen.language,
            channel=channel,
            recorded_by=actor,
            recorded_at=timezone.now(),
            signed_on=signed_on,
            text_sha256=screen.sha256,
            typed_name_encrypted=personal_numbers.encrypt(name),
        )
        record.pdf_file, record.pdf_sha256 = pdf.write(record, screen, typed_name=name)
        record.save(update_fields=["pdf_file", "pdf_sha256"])
        before = audit.snapshot(locked)
        locked.consent_version = text.version
        locked.consent_date = signed_on
        locked.save(update_fields=["consent_version", "consent_date"])
        changed = audit.changed_event(locked, before, actor=actor)
        if changed is not None:
            _as_participant(changed, channel).save()
        _close(locked, text, request)
        _as_participant(_event("consent.given", record, actor), channel).save()
    participant.consent_version, participant.consent_date = text.version, signed_on
    return record


def decline_consent(
    participant: Participant,
    text: ConsentText,
    *,
    language: str,
    channel: str,
    shown_sha256: str,
    actor: User | None,
    request: ConsentRequest | None = None,
) -> ConsentRecord:
    """Record that the participant read ``text`` and declined (no name, no PDF); their
    earlier consent, if any, is left as it is (declining is not a withdrawal). Audited.
    Raises ConsentError as ``record_consent`` does."""
    screen = _check_answer(participant, text, language, shown_sha256)
    with transaction.atomic():
        record = ConsentRecord.objects.create(
            participant=participant,
            text=text,
            request=request,
            outcome=ConsentRecord.Outcome.DECLINED,
            language=screen.language,
            channel=channel,
            recorded_by=actor,
            recorded_at=timezone.now(),
            text_sha256=screen.sha256,
        )
        _close(participant, text, request)
        _as_participant(_event("consent.declined", record, actor), channel).save()
    return record


def _event(action: str, record: ConsentRecord, actor: User | None) -> AuditEvent:
    return audit.build(
        action,
        record,
        actor=actor,
        trial=record.participant.trial,
        data={
            "version": record.text.version,
            "language": record.language,
            "channel": record.channel,
            "text_sha256": record.text_sha256,
            "pdf_sha256": record.pdf_sha256,
            "at": record.recorded_at.isoformat(),
        },
    )


def _close(participant: Participant, text: ConsentText, request: ConsentRequest | None) -> None:
    """Close the request answered, and any other open request to the participant for the same
    text: an answer on a staff device answers the link sent for it too."""
    answered = Q(participant=participant, text=text)
    if request is not None:
        answered |= Q(pk=request.pk)
    ConsentRequest.objects.filter(answered, closed_at__isnull=True).update(closed_at=timezone.now())


def pdf_for_download(record: ConsentRecord, *, actor: User) -> Path:
    """The record's PDF, with the download in the audit trail. The caller has checked the
    right (MANAGE_CONSENT). Raises ConsentError when there is no file."""
    if not record.pdf_file:
        raise ConsentError(_("This consent record has no PDF."))
    path = pdf.path_of(record)
    if not path.is_file():
        raise ConsentError(_("The PDF of this consent is no longer on the server."))
    audit.record(
        "consent.pdf_downloaded",
        record,
        actor=actor,
        trial=record.participant.trial,
        data={"file": record.pdf_file, "pdf_sha256": record.pdf_sha256},
    )
    return path


# --- withdrawal through the link ----------------------------------------------------------

WITHDRAWAL_REASON = "Withdrew through the consent link"


def withdraw_through_link(request: ConsentRequest, *, scope: str, reason: str) -> Withdrawal:
    """The participant withdraws from the study on their consent page: trial's withdrawal
    service (the same scopes and rules as a staff withdrawal, no actor), every open consent
    request closed, and an event saying it was the participant, through their link. Their
    questionnaire invitations stop by the invitation stop rules. Raises TrialError (unknown
    scope, already withdrawn). Not repeatable."""
    participant = request.participant
    with transaction.atomic():
        withdrawal = withdraw_participant(
            participant,
            withdrawn_on=timezone.localdate(),
            scope=scope,
            reason=(reason or "").strip()[:300] or WITHDRAWAL_REASON,
            actor=None,
        )
        ConsentRequest.objects.filter(participant=participant, closed_at__isnull=True).update(
            closed_at=timezone.now()
        )
        event = audit.build(
            "participant.withdrew_through_link",
            participant,
            actor=None,
            data={"scope": scope, "consent_version": request.text.version},
        )
        event.actor_name = PARTICIPANT_ACTOR_NAME
        event.save()
    return withdrawal
