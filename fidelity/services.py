"""Writes to the contact log, and the contamination exposures derived from it.

Every service checks the rules before it writes anything, writes inside one transaction, and
audits in that transaction, so a refusal leaves nothing half-saved.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fidelity import contamination
from fidelity.models import CONTACT_MINUTES_MAX, CONTACT_NOTE_MAX, Component, Contact, Exposure

# fidelity may read allocations (the arm a participant is in) but never writes them; this is
# the one import from randomisation that the design allows.
from randomisation.models import Allocation
from trial import audit, permissions
from trial.models import Participant, Site, Trial, Withdrawal
from trial.services import TrialError

EDITABLE_FIELDS = frozenset({"contact_on", "mode", "minutes", "partners", "components", "note"})


class ContactLocked(TrialError):
    """The contact may not be edited by this user any more (not its author, or too late)."""


@dataclass(frozen=True)
class _CleanContact:
    participant: Participant | None
    site: Site
    contact_on: dt.date
    mode: str
    minutes: int
    partners: list[str]
    components: list[Component]
    note: str


def _clean(
    trial: Trial,
    *,
    actor: AbstractBaseUser,
    participant: Participant | None,
    site: Site | None,
    contact_on: dt.date,
    mode: str,
    minutes: int,
    partners: Iterable[str],
    components: Iterable[Component],
    note: str,
) -> _CleanContact:
    """Check one contact's values against the trial's rules; raise TrialError at the first fault."""
    allowed_sites = permissions.site_ids(actor, trial)
    if participant is not None:
        if participant.trial_id != trial.pk or (
            allowed_sites is not None and participant.site_id not in allowed_sites
        ):
            raise TrialError(_("Unknown participant."), field="participant")
        if site is not None and site.pk != participant.site_id:
            raise TrialError(
                _("A contact with a participant belongs to the participant's site."), field="site"
            )
        site = participant.site
    if site is None:
        raise TrialError(_("Choose the site."), field="site")
    if site.trial_id != trial.pk or (allowed_sites is not None and site.pk not in allowed_sites):
        raise TrialError(_("Unknown site."), field="site")

    if contact_on > timezone.localdate():
        raise TrialError(_("The contact date cannot be in the future."), field="contact_on")
    if participant is not None:
        if contact_on < participant.enrolled_on:
            raise TrialError(
                _("The contact date cannot be before enrolment (%(date)s).")
                % {"date": participant.enrolled_on.isoformat()},
                field="contact_on",
            )
        withdrawal = Withdrawal.objects.filter(participant=participant).first()
        # Every scope of withdrawal includes "no further contact" (the others go further), so
        # no contact after the withdrawal date may be logged. A contact on or before that
        # date may still be entered late: it happened while they took part.
        if withdrawal is not None and contact_on > withdrawal.withdrawn_on:
            raise TrialError(
                _(
                    "%(study_id)s withdrew on %(date)s and asked for no further contact: a "
                    "contact after that date cannot be logged."
                )
                % {"study_id": participant.study_id, "date": withdrawal.withdrawn_on.isoformat()},
                field="contact_on",
            )

    if mode not in Contact.Mode.values:
        raise TrialError(_("Choose how the contact took place."), field="mode")
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise TrialError(_("Give the length in whole minutes."), field="minutes")
    if not 1 <= minutes <= CONTACT_MINUTES_MAX:
        raise TrialError(
            _("A contact lasts from 1 to %(max)s minutes.") % {"max": CONTACT_MINUTES_MAX},
            field="minutes",
        )

    given = list(partners)
    unknown = [p for p in given if p not in Contact.Partner.values]
    if unknown:
        raise TrialError(
            _("Unknown partner: %(codes)s.") % {"codes": ", ".join(map(str, unknown))},
            field="partners",
        )
    # Stored once each, in the order of the choices, so equal sets compare equal.
    clean_partners = [code for code in Contact.Partner.values if code in given]
    if participant is None:
        if Contact.Partner.EMPLOYER not in clean_partners:
            raise TrialError(
                _("A contact about no single participant must be with an employer."),
                field="partners",
            )
        if Contact.Partner.PARTICIPANT in clean_partners:
            raise TrialError(
                _("Choose the participant, or remove 'participant' from who took part."),
                field="partners",
            )

    clean_components = sorted(set(components), key=lambda c: (c.order, c.code))
    if any(c.trial_id != trial.pk for c in clean_components):
        raise TrialError(_("Unknown intervention component."), field="components")

    note = note.strip()
    if len(note) > CONTACT_NOTE_MAX:
        raise TrialError(
            _("Keep the note to %(max)s characters.") % {"max": CONTACT_NOTE_MAX}, field="note"
        )
    return _CleanContact(
        participant=participant,
        site=site,
        contact_on=contact_on,
        mode=mode,
        minutes=minutes,
        partners=clean_partners,
        components=clean_components,
        note=note,
    )


def _snapshot(contact: Contact) -> audit.Snapshot:
    """The contact as audited: its fields plus the codes of the components delivered."""
    data = audit.snapshot(contact)
    data.pop("updated_at", None)
    data["components"] = sorted(contact.components.values_list("code", flat=True))
    return data


def _same_content(contact: Contact, clean: _CleanContact, actor: AbstractBaseUser) -> bool:
    return (
        contact.author_id == actor.pk
        and contact.participant_id == (clean.participant.pk if clean.participant else None)
        and contact.site_id == clean.site.pk
        and contact.contact_on == clean.contact_on
        and contact.mode == clean.mode
        and contact.minutes == clean.minutes
        and contact.partners == clean.partners
        and contact.note == clean.note
        and set(contact.components.values_list("pk", flat=True)) == {c.pk for c in clean.components}
    )


def _replay(
    trial: Trial, client_id: uuid.UUID, clean: _CleanContact, actor: AbstractBaseUser
) -> Contact | None:
    """The contact saved earlier under this client id, if any; refuses a different content."""
    earlier = Contact.objects.filter(trial=trial, client_id=client_id).first()
    if earlier is not None and not _same_content(earlier, clean, actor):
        raise TrialError(_("This client id was used for a different contact."), field="client_id")
    return earlier


def log_contact(
    trial: Trial,
    *,
    actor: AbstractBaseUser,
    participant: Participant | None,
    site: Site | None,
    contact_on: dt.date,
    mode: str,
    minutes: int,
    partners: Iterable[str],
    components: Iterable[Component],
    note: str = "",
    client_id: uuid.UUID | None = None,
) -> tuple[Contact, bool]:
    """Log one contact, derive its contamination exposures, and audit both.

    ``participant=None`` logs a contact with an employer about no single participant (job
    development); ``site`` is then required, and is otherwise the participant's site.

    Raises TrialError for a participant or site outside the actor's sites, a date in the future,
    before enrolment or after a withdrawal, an unknown mode, partner or component, minutes
    outside 1..600, an employer contact without the employer, or a ``client_id`` reused for a
    different contact. Safe to repeat with the same ``client_id``: the first contact is returned
    with ``created=False`` (also when two submissions race; the unique constraint decides).
    """
    clean = _clean(
        trial,
        actor=actor,
        participant=participant,
        site=site,
        contact_on=contact_on,
        mode=mode,
        minutes=minutes,
        partners=partners,
        components=components,
        note=note,
    )
    if client_id is not None:
        earlier = _replay(trial, client_id, clean, actor)
        if earlier is not None:
            return earlier, False
    try:
        with transaction.atomic():
            contact = Contact.objects.create(
                trial=trial,
                site=clean.site,
                participant=clean.participant,
                client_id=client_id,
                author=actor,
                author_name=actor.get_username(),
                contact_on=clean.contact_on,
                mode=clean.mode,
                minutes=clean.minutes,
                partners=clean.partners,
                note=clean.note,
            )
            contact.components.set(clean.components)
            audit.record(
                "contact.created",
                contact,
                actor=actor,
                trial=trial,
                data={"after": _snapshot(contact)},
            )
            derive_exposures(contact, actor=actor)
    except IntegrityError:
        # Another submission with the same client id committed first.
        if client_id is None:
            raise
        earlier = _replay(trial, client_id, clean, actor)
        if earlier is None:
            raise
        return earlier, False
    return contact, True


def ensure_editable(contact: Contact, actor: AbstractBaseUser) -> None:
    """Raise ContactLocked unless ``actor`` wrote the contact and its edit window is open."""
    if contact.author_id != actor.pk:
        raise ContactLocked(_("Only the caseworker who logged a contact may change it."))
    if timezone.now() > contact.editable_until():
        raise ContactLocked(
            _("This contact was locked %(hours)s hours after it was logged; it cannot be changed.")
            % {"hours": settings.CONTACT_EDIT_HOURS}
        )


def edit_contact(contact: Contact, *, actor: AbstractBaseUser, **changes: Any) -> Contact:
    """Correct a contact: only its author, within ``settings.CONTACT_EDIT_HOURS`` of logging.

    Accepts ``contact_on``, ``mode``, ``minutes``, ``partners``, ``components`` and ``note``;
    the participant and site are fixed (log a new contact instead). The same rules as
    :func:`log_contact` apply to the result. Exposures derived from the contact are brought in
    line in the same transaction. Raises ContactLocked for another user or a locked contact,
    TrialError for an unknown field or an invalid value. Safe to repeat: an edit that changes
    nothing writes nothing.
    """
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise TrialError(
            _("These fields cannot be changed: %(fields)s.")
            % {"fields": ", ".join(sorted(unknown))}
        )
    with transaction.atomic():
        locked = (
            Contact.objects.select_for_update(of=("self",))
            .select_related("participant__site", "site", "trial")
            .get(pk=contact.pk)
        )
        ensure_editable(locked, actor)
        values: dict[str, Any] = {
            "contact_on": locked.contact_on,
            "mode": locked.mode,
            "minutes": locked.minutes,
            "partners": locked.partners,
            "components": list(locked.components.all()),
            "note": locked.note,
            **changes,
        }
        clean = _clean(
            locked.trial,
            actor=actor,
            participant=locked.participant,
            site=locked.site,
            **values,
        )
        before = _snapshot(locked)
        locked.contact_on = clean.contact_on
        locked.mode = clean.mode
        locked.minutes = clean.minutes
        locked.partners = clean.partners
        locked.note = clean.note
        locked.components.set(clean.components)
        diff = audit.changes(
            before,
            {**audit.snapshot(locked), "components": sorted(c.code for c in clean.components)},
        )
        diff.pop("updated_at", None)
        if not diff:
            return locked
        locked.save(
            update_fields=["contact_on", "mode", "minutes", "partners", "note", "updated_at"]
        )
        audit.record(
            "contact.changed", locked, actor=actor, trial=locked.trial, data={"changes": diff}
        )
        derive_exposures(locked, actor=actor)
    return locked


def derive_exposures(contact: Contact, *, actor: AbstractBaseUser | None) -> list[Exposure]:
    """Bring the contamination exposures derived from ``contact`` in line with it.

    A contact is an exposure when its participant was allocated to a control arm on or before
    the contact date and it delivered intervention-specific components: one Exposure per such
    component. Exposures of components no longer delivered (after an edit) are removed, and
    their dates follow the contact's; each change is audited. Call inside the transaction that
    saved the contact. Safe to repeat. Returns the contact's exposures afterwards. It also sets
    the contact's staff contamination-risk flag (:func:`fidelity.contamination.flag_staff_risk`).

    A contact logged before an allocation dated earlier than the contact (a late manual entry)
    is not revisited when the allocation is recorded; that is left to a later recomputation.
    """
    wanted: dict[int, Component] = {}
    if contact.participant_id is not None:
        allocation = (
            Allocation.objects.filter(participant_id=contact.participant_id)
            .select_related("arm")
            .first()
        )
        if (
            allocation is not None
            and allocation.arm.is_control
            and allocation.allocated_on <= contact.contact_on
        ):
            wanted = {c.pk: c for c in contact.components.all() if c.intervention_specific}
    current = {
        e.component_id: e
        for e in Exposure.objects.filter(contact=contact, source=Exposure.Source.CONTACT)
    }
    for component_id, exposure in current.items():
        if component_id not in wanted:
            audit.record_deleted(exposure, actor=actor)
            exposure.delete()
        elif exposure.exposed_on != contact.contact_on:
            before = audit.snapshot(exposure)
            exposure.exposed_on = contact.contact_on
            exposure.save(update_fields=["exposed_on"])
            audit.record_changed(exposure, before, actor=actor)
    for component_id, component in wanted.items():
        if component_id in current:
            continue
        exposure = Exposure.objects.create(
            trial_id=contact.trial_id,
            participant_id=contact.participant_id,
            site_id=contact.site_id,
            source=Exposure.Source.CONTACT,
            component=component,
            exposed_on=contact.contact_on,
            contact=contact,
        )
        audit.record_created(exposure, actor=actor)
    # Source (d): staff who worked at an intervention site now serving a control unit.
    contamination.flag_staff_risk(contact, actor=actor)
    return list(Exposure.objects.filter(contact=contact))
