"""Data subjects' rights over one participant: access (everything stored about them) and
erasure (of a withdrawn participant who asked for their data to be removed).

This app may read and write every app's models, as ``demo`` does, so that ``trial`` stays
independent of the others. Both services write an audit event; neither puts the personal
number into it.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from fidelity.models import Contact, Exposure
from instruments.models import AUDIT_TARGET_TYPES, Assessment
from pathways.models import PendingSpell, QualityFlag, Spell
from randomisation.models import Allocation
from surveys.consent import pdf as consent_pdf
from surveys.consent.models import ConsentRecord, ConsentRequest
from surveys.links import token_for, token_hash
from surveys.models import ContactDetails, Draft, Invitation
from trial import audit, personal_numbers
from trial.models import (
    AuditEvent,
    LossToFollowUp,
    Participant,
    ScreeningRecord,
    Trial,
    Visit,
    Withdrawal,
)
from trial.services import TrialError
from trial.text import spreadsheet_cell

ERASED_ACTION = "participant.erased"


class PrivacyError(TrialError):
    """The export or erasure is not allowed, with the reason."""


def find_participant(trial_code: str, study_id: str) -> Participant:
    participant = (
        Participant.objects.select_related("trial", "site")
        .filter(trial__code=trial_code, study_id=study_id)
        .first()
    )
    if participant is None:
        if not Trial.objects.filter(code=trial_code).exists():
            raise PrivacyError(_("There is no trial %(code)s.") % {"code": trial_code})
        raise PrivacyError(
            _("Trial %(code)s has no participant %(id)s.") % {"code": trial_code, "id": study_id}
        )
    return participant


# --- right of access -----------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


def _row(instance: models.Model, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    data = {}
    for f in instance._meta.concrete_fields:
        if f.name in exclude:
            continue
        key = f.attname if f.is_relation else f.name
        data[key] = _jsonable(f.value_from_object(instance))
    return data


def _audit_targets(p: Participant) -> Q:
    """Audit events about the participant or any record of theirs."""
    querysets: dict[str, models.QuerySet[Any]] = {
        "trial.participant": Participant.objects.filter(pk=p.pk),
        "trial.withdrawal": Withdrawal.objects.filter(participant=p),
        "trial.losstofollowup": LossToFollowUp.objects.filter(participant=p),
        "trial.visit": Visit.objects.filter(participant=p),
        # Assessments recorded before the generic store kept their ids when they moved
        # (instruments/0002): their earlier events name the old type.
        **dict.fromkeys(AUDIT_TARGET_TYPES, Assessment.objects.filter(visit__participant=p)),
        "trial.screeningrecord": ScreeningRecord.objects.filter(participant=p),
        "randomisation.allocation": Allocation.objects.filter(participant=p),
        "fidelity.contact": Contact.objects.filter(participant=p),
        "fidelity.exposure": Exposure.objects.filter(participant=p),
        "surveys.consentrecord": ConsentRecord.objects.filter(participant=p),
        "surveys.consentrequest": ConsentRequest.objects.filter(participant=p),
        "surveys.invitation": Invitation.objects.filter(participant=p),
    }
    condition = Q(pk__in=[])
    for label, rows in querysets.items():
        ids = [str(pk) for pk in rows.values_list("pk", flat=True)]
        if ids:
            condition |= Q(target_type=label, target_id__in=ids)
    return condition


def collect_participant_data(participant: Participant) -> dict[str, Any]:
    """Everything stored about one participant, by section, as JSON-ready data.

    The personal number is decrypted here and only here: the export goes to the person it is
    about. Raises PrivacyError if the stored number cannot be decrypted with any key.
    """
    p = participant
    person = _row(p, exclude=Participant.AUDIT_EXCLUDE)
    person["trial"] = p.trial.code
    person["site"] = p.site.code
    number = ""
    if p.personal_number_encrypted:
        try:
            number = personal_numbers.decrypt(p.personal_number_encrypted)
        except Exception:  # cryptography's InvalidToken
            raise PrivacyError(
                _("No encryption key decrypts the personal number of %(id)s.") % {"id": p.study_id}
            ) from None
    person["personal_number"] = number
    allocation = Allocation.objects.filter(participant=p).select_related("arm").first()
    contacts = Contact.objects.filter(participant=p).prefetch_related("components").order_by("pk")
    return {
        "exported_at": timezone.now().isoformat(),
        "participant": person,
        "covariates": [
            {"key": key, "value": value} for key, value in sorted((p.baseline or {}).items())
        ],
        "screening": [_row(r) for r in ScreeningRecord.objects.filter(participant=p)],
        "visits": [
            {**_row(v), "visit": v.definition.code}
            for v in Visit.objects.filter(participant=p).select_related("definition")
        ],
        "assessments": [
            {
                **_row(a),
                "visit": a.visit.definition.code,
                "instrument": a.instrument.code,
                "version": a.version.number,
            }
            for a in Assessment.objects.filter(visit__participant=p).select_related(
                "visit__definition", "instrument", "version"
            )
        ],
        "allocation": (
            [
                {
                    **_row(allocation, exclude=("previous_hash", "idempotency_key")),
                    "arm_code": allocation.arm.code,
                    "arm_name": allocation.arm.name,
                    "flags": [_row(f) for f in allocation.flags.all()],
                    "unblindings": [_row(u) for u in allocation.unblindings.all()],
                }
            ]
            if allocation
            else []
        ),
        "contacts": [
            {**_row(c), "components": [comp.code for comp in c.components.all()]} for c in contacts
        ],
        "exposures": [_row(e) for e in Exposure.objects.filter(participant=p)],
        "spells": [_row(s) for s in Spell.objects.filter(participant=p)],
        "data_quality_flags": [_row(f) for f in QualityFlag.objects.filter(participant=p)],
        "withdrawal": [_row(w) for w in Withdrawal.objects.filter(participant=p)],
        # Never the typed name (the signed PDFs, which show it, are copied beside the files).
        "consent_records": [
            {**_row(r, exclude=ConsentRecord.AUDIT_EXCLUDE), "version": r.text.version}
            for r in ConsentRecord.objects.filter(participant=p).select_related("text")
        ],
        "consent_requests": [
            {**_row(r, exclude=ConsentRequest.AUDIT_EXCLUDE), "version": r.text.version}
            for r in ConsentRequest.objects.filter(participant=p).select_related("text")
        ],
        "loss_to_follow_up": [_row(x) for x in LossToFollowUp.objects.filter(participant=p)],
        **_questionnaire_data(p),
        "audit_events": [
            _row(e) for e in AuditEvent.objects.filter(_audit_targets(p)).order_by("created_at")
        ],
    }


def _questionnaire_data(p: Participant) -> dict[str, list[dict[str, Any]]]:
    """What participant questionnaires hold about them: how to reach them (decrypted: the
    export goes to the person it is about), the links sent (without the secret behind each
    link) and answers saved but not sent."""
    contact = ContactDetails.objects.filter(participant=p).first()
    details = []
    if contact is not None:
        details.append(
            {
                **_row(contact, exclude=ContactDetails.AUDIT_EXCLUDE),
                "email": contact.email,
                "phone": contact.phone,
            }
        )
    invitations = Invitation.objects.filter(participant=p).select_related(
        "visit__definition", "instrument", "version"
    )
    return {
        "contact_details": details,
        "invitations": [
            {
                **_row(i, exclude=Invitation.AUDIT_EXCLUDE),
                "visit": i.visit.definition.code,
                "instrument": i.instrument.code,
                "version": i.version.number,
            }
            for i in invitations
        ],
        "saved_answers": [
            {**_row(d), "visit": d.visit.definition.code, "instrument": d.instrument.code}
            for d in Draft.objects.filter(visit__participant=p).select_related(
                "visit__definition", "instrument"
            )
        ],
    }


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    with path.open("w", newline="", encoding="utf-8") as handle:
        # Every cell through spreadsheet_cell: the person may open the file in a spreadsheet.
        writer = csv.writer(handle)
        writer.writerow([spreadsheet_cell(column) for column in columns])
        for row in rows:
            writer.writerow(
                [
                    spreadsheet_cell(
                        json.dumps(row[k], ensure_ascii=False)
                        if isinstance(row.get(k), dict | list)
                        else row.get(k, "")
                    )
                    for k in columns
                ]
            )


def export_participant(participant: Participant, out: Path, *, actor: User) -> list[Path]:
    """Write everything stored about the participant to ``out``: ``<study id>.json`` and one
    CSV per section. Audited (who and when, never the number). Safe to repeat: files are
    overwritten and each run is a new audit event.
    """
    data = collect_participant_data(participant)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{participant.trial.code}-{participant.study_id}"
    written = [out / f"{stem}.json"]
    written[0].write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    for section, value in data.items():
        if section == "exported_at":
            continue
        rows = [value] if isinstance(value, dict) else value
        path = out / f"{stem}-{section}.csv"
        _write_csv(path, rows)
        written.append(path)
    written.extend(_copy_consent_pdfs(participant, out, stem))
    audit.record(
        "participant.exported",
        participant,
        actor=actor,
        data={"files": [p.name for p in written]},
    )
    return written


def _copy_consent_pdfs(participant: Participant, out: Path, stem: str) -> list[Path]:
    """The participant's signed consent PDFs (what they saw and confirmed), for the export."""
    copied = []
    records = ConsentRecord.objects.filter(participant=participant).exclude(pdf_file="")
    for record in records.select_related("participant__trial"):
        source = consent_pdf.path_of(record)
        if source.is_file():
            target = out / f"{stem}-consent-{record.pk}.pdf"
            target.write_bytes(source.read_bytes())
            copied.append(target)
    return copied


# --- erasure -------------------------------------------------------------------------------


@dataclass
class ErasureReport:
    """What an erasure removed or blanked, by kind of record (counts only)."""

    counts: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False


def check_erasable(participant: Participant) -> None:
    """Raise PrivacyError saying why the participant's data may not be erased."""
    withdrawal = Withdrawal.objects.filter(participant=participant).first()
    if withdrawal is None:
        raise PrivacyError(
            _("%(id)s has not withdrawn; only a withdrawn participant's data can be erased.")
            % {"id": participant.study_id}
        )
    if withdrawal.scope != Withdrawal.Scope.REMOVE_DATA:
        raise PrivacyError(
            _(
                "%(id)s withdrew with the scope “%(scope)s”, which does not allow removing "
                "data already collected."
            )
            % {"id": participant.study_id, "scope": withdrawal.get_scope_display()}
        )
    if AuditEvent.objects.filter(
        action=ERASED_ACTION, target_type="trial.participant", target_id=str(participant.pk)
    ).exists():
        raise PrivacyError(
            _("The data of %(id)s have already been erased.") % {"id": participant.study_id}
        )


def erase_participant(
    participant: Participant, *, reason: str, actor: User, dry_run: bool = False
) -> ErasureReport:
    """Erase a withdrawn participant's personal data, as their withdrawal allows.

    Removed: the personal number and its hash, baseline covariates, assessments (their visits
    are reopened and their contamination answers cleared), spells, data-quality flags and
    pending imported spells, contact details (e-mail, phone, language) and answers saved through
    a link but not sent. Blanked: the typed names of consent records, free-text notes of
    contacts, exposures and the withdrawal's and loss's free text, and the invitations' last
    delivery errors (which can name the address); the invitations keep their channel, dates,
    counts and states, under a new secret, so that no link sent earlier opens anything. Kept:
    the participant row with its study id, site, dates and status, the screening record, the
    allocation (the hash chain and CONSORT's randomised and withdrawn counts stay intact), the
    contacts' coded fields (dose and reach), and the consent records with their signed PDFs
    (the proof of consent the trial must keep; docs/decisions.md "Electronic consent"). The
    audit trail is append-only and keeps its events, which never hold the typed name or the
    personal number.

    Atomic; raises PrivacyError (nothing changed) if the withdrawal does not allow erasure or it
    was done before. With ``dry_run`` it counts and changes nothing.
    """
    if not reason.strip():
        raise PrivacyError(_("Give the reason for the erasure."), field="reason")
    with transaction.atomic():
        p = Participant.objects.select_for_update().get(pk=participant.pk)
        check_erasable(p)
        assessments = Assessment.objects.filter(visit__participant=p)
        spells = Spell.objects.filter(participant=p)
        contacts = Contact.objects.filter(participant=p).exclude(note="")
        exposures = Exposure.objects.filter(participant=p).exclude(note="")
        consent_names = ConsentRecord.objects.filter(participant=p).exclude(typed_name_encrypted="")
        contact_details = ContactDetails.objects.filter(participant=p)
        drafts = Draft.objects.filter(visit__participant=p)
        counts = {
            "personal_number": int(bool(p.personal_number_encrypted)),
            "covariates": len(p.baseline or {}),
            "assessments": assessments.count(),
            "spells": spells.count(),
            "quality_flags": QualityFlag.objects.filter(participant=p).count(),
            "pending_spells": PendingSpell.objects.filter(participant=p).count(),
            "contact_notes": contacts.count(),
            "exposure_notes": exposures.count(),
            "consent_names": consent_names.count(),
            "contact_details": contact_details.count(),
            "saved_answers": drafts.count(),
            "invitations_rekeyed": Invitation.objects.filter(participant=p).count(),
        }
        report = ErasureReport(counts=counts, dry_run=dry_run)
        if dry_run:
            return report
        visit_ids = list(assessments.values_list("visit_id", flat=True))
        assessments.delete()
        Visit.objects.filter(pk__in=visit_ids).update(completed_on=None)
        Visit.objects.filter(participant=p).update(contamination_reported=None)
        QualityFlag.objects.filter(participant=p).delete()
        spells.delete()
        PendingSpell.objects.filter(participant=p).delete()
        contacts.update(note="")
        exposures.update(note="")
        consent_names.update(typed_name_encrypted="")
        Withdrawal.objects.filter(participant=p).update(reason="")
        LossToFollowUp.objects.filter(participant=p).update(detail="")
        contact_details.delete()
        drafts.delete()
        _rekey_invitations(p)
        p.personal_number_encrypted = ""
        p.personal_number_hash = None
        p.baseline = {}
        p.save(update_fields=["personal_number_encrypted", "personal_number_hash", "baseline"])
        audit.record(ERASED_ACTION, p, actor=actor, data={"reason": reason, "counts": counts})
    return report


def _rekey_invitations(p: Participant) -> None:
    """The participant's invitations without their last delivery error and under a fresh
    nonce: the links sent earlier stop opening anything."""
    for invitation in Invitation.objects.filter(participant=p):
        invitation.nonce = secrets.token_hex(32)
        invitation.token_hash = token_hash(token_for(invitation))
        invitation.last_error = ""
        invitation.save(update_fields=["nonce", "token_hash", "last_error"])
