"""Writes to the contact log, and the contamination exposures derived from it (source a; the
other sources are in ``fidelity.contamination.services``).

Every service checks the rules (``rules.py``) before it writes anything, writes inside one
transaction, and audits in that transaction, so a refusal leaves nothing half-saved.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from fidelity.contacts import rules
from fidelity.contacts.rules import CleanContact
from fidelity.contamination.arms import participant_in_control
from fidelity.contamination.services import StaffRisk, flag_staff_risk, staff_risk_note
from fidelity.models import Component, Contact, Exposure
from trial import audit, permissions
from trial.models import AuditEvent, Participant, Site, Trial, Withdrawal
from trial.services import TrialError

EDITABLE_FIELDS = frozenset({"contact_on", "mode", "minutes", "partners", "components", "note"})


class ContactLocked(TrialError):
    """The contact may not be edited by this user any more (not its author, or too late)."""


def _snapshot(contact: Contact) -> audit.Snapshot:
    """The contact as audited: its fields plus the codes of the components delivered."""
    data = audit.snapshot(contact)
    data.pop("updated_at", None)
    data["components"] = sorted(contact.components.values_list("code", flat=True))
    return data


def _same_content(contact: Contact, clean: CleanContact, actor: User) -> bool:
    return (
        contact.author_id == actor.pk
        and contact.participant_id == (clean.participant.pk if clean.participant else None)
        and contact.site_id == clean.site.pk
        and contact.contact_on == clean.contact_on
        and contact.mode == clean.mode
        and contact.minutes == clean.minutes
        and contact.partners == clean.partners
        and contact.note == clean.note
        and {c.pk for c in contact.components.all()} == {c.pk for c in clean.components}
    )


@dataclass(frozen=True)
class ContactEntry:
    """One contact to log (see :func:`log_contacts`); ``participant`` None for a contact with
    an employer about no single participant, which then needs ``site``."""

    participant: Participant | None
    site: Site | None
    contact_on: dt.date
    mode: str
    minutes: int
    partners: Iterable[str]
    components: Iterable[Component]
    note: str = ""
    client_id: uuid.UUID | None = None


class ContactBatchError(TrialError):
    """Some contacts of a batch were refused: ``errors`` maps each one's position to its
    TrialError. Nothing of the batch was saved."""

    def __init__(self, errors: dict[int, TrialError]) -> None:
        super().__init__(_("Some contacts were refused; none was saved."))
        self.errors = errors


@dataclass(frozen=True)
class _Facts:
    withdrawn_on: dt.date | None
    in_control_from: dt.date | None  # allocated to a control arm on this day, else None

    def in_control_on(self, day: dt.date) -> bool:
        return self.in_control_from is not None and self.in_control_from <= day


def _participant_facts(ids: set[int]) -> dict[int, _Facts]:
    """Withdrawal date and control-arm allocation date of each participant, in one query."""
    rows = Participant.objects.filter(pk__in=ids).values_list(
        "pk", "withdrawal__withdrawn_on", "allocation__arm__is_control", "allocation__allocated_on"
    )
    return {
        pk: _Facts(withdrawn_on, allocated_on if is_control else None)
        for pk, withdrawn_on, is_control, allocated_on in rows
    }


def exposure_components(
    participant: Participant, contact_on: dt.date, components: Iterable[Component]
) -> list[Component]:
    """The components among ``components`` that a contact with ``participant`` on
    ``contact_on`` would record as contamination exposures: the intervention-specific ones,
    when the participant was allocated to a control arm on or before that day.

    Writes nothing. The answer reveals the participant's arm: callers tell it only to those
    who may see allocations (``fidelity.contacts.views.may_learn_arm``).
    """
    if not _participant_facts({participant.pk})[participant.pk].in_control_on(contact_on):
        return []
    return sorted(
        (c for c in set(components) if c.intervention_specific), key=lambda c: (c.order, c.code)
    )


def log_contacts(
    trial: Trial, *, actor: User, entries: list[ContactEntry]
) -> list[tuple[Contact, bool]]:
    """Log many contacts at once, all or none: each checked as :func:`log_contact` checks one.

    Returns ``(contact, created)`` per entry, in order; an entry whose ``client_id`` was used
    before for the same contact returns that contact with ``created=False``. Raises
    ContactBatchError naming every refused entry (nothing is saved then), including a
    ``client_id`` used twice in the batch or before for a different contact. The checks read
    everything they need in a few queries and the writes are one statement per table, so a
    batch costs little more than one contact.
    """
    return _log_contacts(trial, actor=actor, entries=entries, retry=True)


def check_contacts(trial: Trial, *, actor: User, entries: list[ContactEntry]) -> None:
    """Raise ContactBatchError if :func:`log_contacts` would refuse some of ``entries``; write
    nothing either way."""
    _check(trial, actor, entries)


@dataclass
class _Checked:
    cleaned: dict[int, CleanContact]
    earlier: dict[int, tuple[Contact, bool]]
    facts: dict[int, _Facts]


def _check(trial: Trial, actor: User, entries: list[ContactEntry]) -> _Checked:
    allowed_sites = permissions.site_ids(actor, trial)
    facts = _participant_facts({e.participant.pk for e in entries if e.participant is not None})
    errors: dict[int, TrialError] = {}
    cleaned: dict[int, CleanContact] = {}
    for index, entry in enumerate(entries):
        known = facts.get(entry.participant.pk) if entry.participant is not None else None
        try:
            cleaned[index] = rules.clean(
                trial,
                allowed_sites=allowed_sites,
                participant=entry.participant,
                withdrawn_on=known.withdrawn_on if known else None,
                site=entry.site,
                contact_on=entry.contact_on,
                mode=entry.mode,
                minutes=entry.minutes,
                partners=entry.partners,
                components=entry.components,
                note=entry.note,
            )
        except TrialError as error:
            errors[index] = error

    # Resubmissions: the contact saved earlier under the same client id, if its content agrees.
    client_ids = [e.client_id for e in entries if e.client_id is not None]
    earlier: dict[uuid.UUID, Contact] = {}
    if client_ids:
        earlier = {
            c.client_id: c  # type: ignore[misc]  # not None: filtered by client_id__in
            for c in Contact.objects.filter(trial=trial, client_id__in=client_ids)
            .select_related("participant", "site")
            .prefetch_related("components")
        }
    results: dict[int, tuple[Contact, bool]] = {}
    seen: set[uuid.UUID] = set()
    for index, entry in enumerate(entries):
        if entry.client_id is None:
            continue
        if entry.client_id in seen:
            errors.setdefault(
                index, TrialError(_("This client id appears twice in the batch."), "client_id")
            )
        seen.add(entry.client_id)
        previous = earlier.get(entry.client_id)
        if previous is None or index not in cleaned:
            continue
        if not _same_content(previous, cleaned[index], actor):
            errors[index] = TrialError(
                _("This client id was used for a different contact."), field="client_id"
            )
        else:
            results[index] = (previous, False)
    if errors:
        raise ContactBatchError(dict(sorted(errors.items())))
    return _Checked(cleaned, results, facts)


def _log_contacts(
    trial: Trial, *, actor: User, entries: list[ContactEntry], retry: bool
) -> list[tuple[Contact, bool]]:
    checked = _check(trial, actor, entries)
    results = dict(checked.earlier)
    new = [index for index in range(len(entries)) if index not in results]
    try:
        with transaction.atomic():
            created = _write_contacts(
                trial,
                actor,
                [(checked.cleaned[i], entries[i].client_id) for i in new],
                checked.facts,
            )
    except IntegrityError:
        # A concurrent submission saved one of these client ids first: check again, once.
        if not retry or all(e.client_id is None for e in entries):
            raise
        return _log_contacts(trial, actor=actor, entries=entries, retry=False)
    for index, contact in zip(new, created, strict=True):
        results[index] = (contact, True)
    return [results[index] for index in range(len(entries))]


def _write_contacts(
    trial: Trial,
    actor: User,
    items: list[tuple[CleanContact, uuid.UUID | None]],
    facts: dict[int, _Facts],
) -> list[Contact]:
    """Insert the contacts, their components, derived exposures and audit events: one
    statement per table. Call inside a transaction."""
    staff = StaffRisk(trial.pk, actor.pk)
    contacts: list[Contact] = []
    risks: list[list[Site]] = []
    for clean, client_id in items:
        if clean.participant is not None:
            in_control = facts[clean.participant.pk].in_control_on(clean.contact_on)
        else:
            in_control = staff.employer_contact_in_control(clean.site.pk, clean.contact_on)
        risky = staff.sites(clean.site.pk, clean.contact_on) if in_control else []
        risks.append(risky)
        contacts.append(
            Contact(
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
                contamination_risk=bool(risky),
            )
        )
    Contact.objects.bulk_create(contacts)
    Contact.components.through.objects.bulk_create(
        [
            Contact.components.through(contact_id=contact.pk, component_id=component.pk)
            for contact, (clean, _id) in zip(contacts, items, strict=True)
            for component in clean.components
        ]
    )
    exposures, events = _derived(
        trial, actor, list(zip(contacts, items, risks, strict=True)), facts
    )
    Exposure.objects.bulk_create(exposures)
    events.extend(
        audit.build(
            "exposure.created", e, actor=actor, trial=trial, data={"after": audit.snapshot(e)}
        )
        for e in exposures
    )
    audit.record_many(events)
    return contacts


def _derived(
    trial: Trial,
    actor: User,
    saved: list[tuple[Contact, tuple[CleanContact, uuid.UUID | None], list[Site]]],
    facts: dict[int, _Facts],
) -> tuple[list[Exposure], list[AuditEvent]]:
    """The exposures the saved contacts make (unsaved), and each contact's audit events: its
    creation and, for a contact flagged as a staff risk, the flag."""
    exposures: list[Exposure] = []
    events: list[AuditEvent] = []
    for contact, (clean, _id), risky in saved:
        after = audit.snapshot(contact)
        after.pop("updated_at", None)
        after["components"] = sorted(c.code for c in clean.components)
        events.append(
            audit.build("contact.created", contact, actor=actor, trial=trial, data={"after": after})
        )
        if clean.participant is not None and facts[clean.participant.pk].in_control_on(
            clean.contact_on
        ):
            exposures.extend(
                Exposure(
                    trial=trial,
                    participant=clean.participant,
                    site=clean.site,
                    source=Exposure.Source.CONTACT,
                    component=component,
                    exposed_on=clean.contact_on,
                    contact=contact,
                )
                for component in clean.components
                if component.intervention_specific
            )
        if risky:
            events.append(
                audit.build(
                    "contact.contamination_risk",
                    contact,
                    actor=actor,
                    trial=trial,
                    data={"changes": {"contamination_risk": [False, True]}},
                )
            )
            exposures.append(
                Exposure(
                    trial=trial,
                    participant=clean.participant,
                    site=clean.site,
                    source=Exposure.Source.STAFF,
                    exposed_on=clean.contact_on,
                    contact=contact,
                    note=staff_risk_note(risky),
                )
            )
    return exposures, events


def log_contact(
    trial: Trial,
    *,
    actor: User,
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
    entry = ContactEntry(
        participant=participant,
        site=site,
        contact_on=contact_on,
        mode=mode,
        minutes=minutes,
        partners=partners,
        components=components,
        note=note,
        client_id=client_id,
    )
    try:
        return log_contacts(trial, actor=actor, entries=[entry])[0]
    except ContactBatchError as refused:
        raise refused.errors[0] from None


def ensure_editable(contact: Contact, actor: User) -> None:
    """Raise ContactLocked unless ``actor`` may still correct the contact
    (``Contact.editable_by``: its author, within its edit window)."""
    if contact.editable_by(actor):
        return
    if contact.author_id != actor.pk:
        raise ContactLocked(_("Only the caseworker who logged a contact may change it."))
    raise ContactLocked(
        _("This contact was locked %(hours)s hours after it was logged; it cannot be changed.")
        % {"hours": settings.CONTACT_EDIT_HOURS}
    )


def edit_contact(contact: Contact, *, actor: User, **changes: Any) -> Contact:
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
        withdrawal = (
            Withdrawal.objects.filter(participant_id=locked.participant_id).first()
            if locked.participant_id is not None
            else None
        )
        clean = rules.clean(
            locked.trial,
            allowed_sites=permissions.site_ids(actor, locked.trial),
            participant=locked.participant,
            withdrawn_on=withdrawal.withdrawn_on if withdrawal else None,
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


def derive_exposures(contact: Contact, *, actor: User | None) -> list[Exposure]:
    """Bring the contamination exposures derived from ``contact`` in line with it.

    A contact is an exposure when its participant was allocated to a control arm on or before
    the contact date and it delivered intervention-specific components: one Exposure per such
    component. Exposures of components no longer delivered (after an edit) are removed, and
    their dates follow the contact's; each change is audited. Call inside the transaction that
    saved the contact. Safe to repeat. Returns the contact's exposures afterwards. It also sets
    the contact's staff contamination-risk flag
    (``fidelity.contamination.services.flag_staff_risk``).

    A contact logged before an allocation dated earlier than the contact (a late manual entry)
    is not revisited when the allocation is recorded; that is left to a later recomputation.
    """
    wanted: dict[int, Component] = {}
    if contact.participant_id is not None and participant_in_control(
        contact.participant_id, contact.contact_on
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
    flag_staff_risk(contact, actor=actor)
    return list(Exposure.objects.filter(contact=contact))
