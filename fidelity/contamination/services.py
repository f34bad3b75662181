"""Contamination recorded beyond the contact log's own exposures (source a, derived in
``fidelity.contacts.services``):

* (b) a yes to the trial's contamination question at a follow-up visit of a control
  participant (:func:`record_assessment_exposure`, called through ``trial.extensions`` when
  ``instruments.services.record_assessment`` saves an assessment: see ``hooks.py`` and
  docs/decisions.md, "The assessment listener"; the answer is kept on the visit, since the
  question is asked once per visit whatever the instruments);
* (c) a site-level event at a control site, entered by the coordinator (:func:`record_site_event`,
  and :func:`remove_site_event` for one entered in error);
* (d) a risk flag from the dated staff site assignments: a contact for a control participant
  logged by staff who earlier worked at an intervention site (:func:`flag_staff_risk`, called by
  ``fidelity.contacts.services``), with :func:`add_site_assignment` and
  :func:`remove_site_assignment` to keep the assignments.

Which arm a participant or site is in comes from ``arms.py``; the per-participant flag for
analyses is in ``flags.py``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from fidelity.contamination.arms import participant_in_control, site_arm, site_is_control_on
from fidelity.models import Component, Contact, Exposure
from trial import audit
from trial.models import Membership, Site, SiteAssignment, Trial
from trial.services import TrialError

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from instruments.models import Assessment

    Actor = AbstractBaseUser | AnonymousUser | None

SITE_EVENT_NOTE_MAX = 500


# --- (b) follow-up assessments ---------------------------------------------------------------


def record_assessment_exposure(assessment: Assessment, *, actor: Actor) -> Exposure | None:
    """Record an exposure when a control participant answered yes to the contamination question.

    Called inside the transaction of ``instruments.services.record_assessment``, once for each
    instrument answered at the visit; the answer is the visit's (``Visit.contamination_reported``).
    The question is asked of every participant, so that a blinded assessor cannot tell the arm
    from it; only a yes from a participant allocated to a control arm on or before the
    assessment date is an exposure. Safe to repeat: one exposure per visit (found by its note).
    Returns the exposure, or None when there is none.
    """
    if not assessment.visit.contamination_reported:
        return None
    participant = assessment.visit.participant
    if not participant_in_control(participant.pk, assessment.assessed_on):
        return None
    note = _assessment_note(assessment)
    existing = Exposure.objects.filter(
        participant=participant, source=Exposure.Source.ASSESSMENT, note=note
    ).first()
    if existing is not None:
        return existing
    exposure = Exposure.objects.create(
        trial_id=participant.trial_id,
        participant=participant,
        site_id=participant.site_id,
        source=Exposure.Source.ASSESSMENT,
        exposed_on=assessment.assessed_on,
        note=note,
    )
    audit.record_created(exposure, actor=actor)
    return exposure


def _assessment_note(assessment: Assessment) -> str:
    return _("Said yes to the contamination question at the %(visit)s visit.") % {
        "visit": assessment.visit.definition.label
    }


# --- (c) site-level events -------------------------------------------------------------------


def record_site_event(
    trial: Trial,
    *,
    site: Site,
    occurred_on: dt.date,
    components: Iterable[Component],
    note: str,
    actor: AbstractBaseUser,
    client_id: uuid.UUID | None = None,
) -> tuple[list[Exposure], bool]:
    """Record that a control site as a whole met the intervention, e.g. its staff were trained
    in the method: one exposure per component named (one without a component if none is).
    Returns the exposures and whether they were recorded now.

    Raises TrialError for a site or component of another trial, a date in the future, an
    intervention site (for a cluster trial, one already crossed over on that date), an empty
    or overlong note, or a ``client_id`` used before for a different event. Idempotent with a
    ``client_id``: a resubmission returns the event first recorded (False); without one, each
    call records an event.
    """
    if site.trial_id != trial.pk:
        raise TrialError(_("Unknown site."), field="site")
    if occurred_on > timezone.localdate():
        raise TrialError(_("The date cannot be in the future."), field="occurred_on")
    if not site_is_control_on(site, occurred_on):
        raise TrialError(
            _("%(site)s is an intervention site on that date: only a control site can be exposed.")
            % {"site": site.code},
            field="site",
        )
    chosen = sorted(set(components), key=lambda c: (c.order, c.code))
    if any(c.trial_id != trial.pk for c in chosen):
        raise TrialError(_("Unknown intervention component."), field="components")
    note = note.strip()
    if not note:
        raise TrialError(_("Say what happened."), field="note")
    if len(note) > SITE_EVENT_NOTE_MAX:
        raise TrialError(
            _("Keep the note to %(max)s characters.") % {"max": SITE_EVENT_NOTE_MAX},
            field="note",
        )
    with transaction.atomic():
        if client_id is not None:
            # One submission at a time per site, so a double click records the event once.
            Site.objects.select_for_update().get(pk=site.pk)
            earlier = list(
                Exposure.objects.filter(trial=trial, client_id=client_id)
                .select_related("site", "component")
                .order_by("pk")
            )
            if earlier:
                same = {(e.site_id, e.exposed_on, e.note) for e in earlier} == {
                    (site.pk, occurred_on, note)
                } and [e.component_id for e in earlier] == [
                    c.pk if c else None for c in chosen or (None,)
                ]
                if not same:
                    raise TrialError(
                        _("This client id was used for a different event."), field="client_id"
                    )
                return earlier, False
        exposures = []
        for component in chosen or (None,):
            exposure = Exposure.objects.create(
                trial=trial,
                site=site,
                source=Exposure.Source.SITE_EVENT,
                component=component,
                exposed_on=occurred_on,
                note=note,
                client_id=client_id,
            )
            audit.record_created(exposure, actor=actor)
            exposures.append(exposure)
    return exposures, True


def remove_site_event(
    exposure: Exposure, *, reason: str, actor: AbstractBaseUser, whole_event: bool = False
) -> int:
    """Remove a site-level exposure recorded in error (wrong site, date or component), with
    the reason, or with ``whole_event`` every entry its submission recorded
    (``Exposure.event_entries``); each is audited with its content, so the trail keeps what was
    removed and why. To correct an event, remove the wrong entries and record the right one.
    Returns how many entries were removed.

    Raises TrialError for an exposure of another source (those follow the contact log or the
    assessments: correct those instead), an empty or overlong reason, or an exposure already
    removed.
    """
    if exposure.source != Exposure.Source.SITE_EVENT:
        raise TrialError(
            _("Only site-level events are removed here; correct the contact or assessment.")
        )
    reason = reason.strip()
    if not reason:
        raise TrialError(_("Say why the entry is removed."), field="reason")
    if len(reason) > SITE_EVENT_NOTE_MAX:
        raise TrialError(
            _("Keep the reason to %(max)s characters.") % {"max": SITE_EVENT_NOTE_MAX},
            field="reason",
        )
    with transaction.atomic():
        # Lock the row: of two removals at once, the second finds it gone.
        if not Exposure.objects.select_for_update().filter(pk=exposure.pk).exists():
            raise TrialError(_("This entry has already been removed."))
        entries = exposure.event_entries() if whole_event else [exposure]
        for entry in entries:
            audit.record(
                "exposure.deleted",
                entry,
                actor=actor,
                data={"before": audit.snapshot(entry), "reason": reason},
            )
        Exposure.objects.filter(pk__in=[e.pk for e in entries]).delete()
    return len(entries)


# --- (d) staff who worked at an intervention site --------------------------------------------


def add_site_assignment(
    membership: Membership,
    *,
    site: Site,
    starts_on: dt.date,
    ends_on: dt.date | None,
    actor: AbstractBaseUser,
) -> tuple[SiteAssignment, int]:
    """Record that a member of staff worked at ``site`` from ``starts_on`` (until ``ends_on``).

    Raises TrialError for a site of another trial, an end before the start, a start in the
    future, or a period that overlaps another assignment of the same person at the same site.
    The person's contacts logged from ``starts_on`` are checked again, so that their staff flags
    follow the new assignment. Returns the assignment and how many flags changed. Not
    idempotent (a repeat overlaps: refused).
    """
    if site.trial_id != membership.trial_id:
        raise TrialError(_("Unknown site."), field="site")
    if starts_on > timezone.localdate():
        raise TrialError(_("The start cannot be in the future."), field="starts_on")
    if ends_on is not None and ends_on < starts_on:
        raise TrialError(_("The end cannot be before the start."), field="ends_on")
    with transaction.atomic():
        # Lock the membership so two overlapping additions cannot both pass the check.
        Membership.objects.select_for_update().get(pk=membership.pk)
        overlapping = SiteAssignment.objects.filter(membership=membership, site=site).filter(
            Q(ends_on__isnull=True) | Q(ends_on__gte=starts_on)
        )
        if ends_on is not None:
            overlapping = overlapping.filter(starts_on__lte=ends_on)
        if overlapping.exists():
            raise TrialError(
                _("This overlaps another period at %(site)s.") % {"site": site.code},
                field="starts_on",
            )
        assignment = SiteAssignment.objects.create(
            membership=membership, site=site, starts_on=starts_on, ends_on=ends_on
        )
        audit.record(
            "siteassignment.created",
            assignment,
            actor=actor,
            trial=membership.trial,
            data={"after": audit.snapshot(assignment)},
        )
        reflagged = reflag_staff_contacts(membership, starts_on, actor=actor)
    return assignment, reflagged


def remove_site_assignment(assignment: SiteAssignment, *, actor: AbstractBaseUser) -> int:
    """Delete an assignment entered in error; audited with its content. The person's contacts
    from the assignment's start are checked again; returns how many flags changed. Not
    idempotent."""
    membership = assignment.membership
    with transaction.atomic():
        # As when adding: one change to a person's assignments at a time, so that each
        # re-flagging sees the other's.
        Membership.objects.select_for_update().get(pk=membership.pk)
        audit.record(
            "siteassignment.deleted",
            assignment,
            actor=actor,
            trial=membership.trial,
            data={"before": audit.snapshot(assignment)},
        )
        assignment.delete()
        return reflag_staff_contacts(membership, assignment.starts_on, actor=actor)


def reflag_staff_contacts(membership: Membership, since: dt.date, *, actor: Actor) -> int:
    """Check again the staff flag of the contacts ``membership``'s person logged in its trial
    on or after ``since``, after their site assignments changed; returns how many flags
    changed. Call inside the transaction that changed the assignments."""
    contacts = Contact.objects.filter(
        trial_id=membership.trial_id, author_id=membership.user_id, contact_on__gte=since
    ).order_by("contact_on", "pk")
    check = StaffRisk(membership.trial_id, membership.user_id)
    changed = 0
    for contact in contacts:
        before = contact.contamination_risk
        if flag_staff_risk(contact, actor=actor, check=check) != before:
            changed += 1
    return changed


class StaffRisk:
    """Source (d) for the contacts of one author in one trial: reads the author's site
    assignments and each site's arm once, however many contacts are checked."""

    def __init__(self, trial_id: int, author_id: int | None) -> None:
        self.trial_id = trial_id
        self.author_id = author_id
        self._assignments: list[SiteAssignment] | None = None
        self._arms: dict[int, tuple[bool, dt.date | None]] = {}

    def _arm(self, site_id: int) -> tuple[bool, dt.date | None]:
        if site_id not in self._arms:
            self._arms[site_id] = site_arm(site_id)
        return self._arms[site_id]

    def employer_contact_in_control(self, site_id: int, on: dt.date) -> bool:
        """An employer contact is with a control unit only at a control site of a cluster trial."""
        allocated, since = self._arm(site_id)
        return allocated and (since is None or on < since)

    def sites(self, site_id: int, on: dt.date) -> list[Site]:
        """Intervention sites other than ``site_id`` where the author worked on or before
        ``on``, counting only the part of an assignment while the site was an intervention
        site. Call it for contacts with a control unit only."""
        if self._assignments is None:
            self._assignments = list(
                SiteAssignment.objects.filter(
                    membership__trial_id=self.trial_id,
                    membership__user_id=self.author_id,  # type: ignore[misc]  # None: no rows
                ).select_related("site")
            )
        risky: dict[int, Site] = {}
        for assignment in self._assignments:
            if assignment.site_id == site_id or assignment.starts_on > on:
                continue
            since = self._arm(assignment.site_id)[1]
            if since is None or since > on:
                continue
            if assignment.ends_on is not None and assignment.ends_on < since:
                continue
            risky[assignment.site_id] = assignment.site
        return sorted(risky.values(), key=lambda s: s.code)


def staff_risk_sites(contact: Contact, check: StaffRisk | None = None) -> list[Site]:
    """Intervention sites where the contact's author worked on or before the contact date.

    Only sites other than the contact's own count, and only the part of an assignment during
    which the site was an intervention site. Empty when the contact is not with a control unit
    (a control participant, or for an employer contact a control site of a cluster trial).
    """
    check = check or StaffRisk(contact.trial_id, contact.author_id)
    if contact.participant_id is not None:
        control = participant_in_control(contact.participant_id, contact.contact_on)
    else:
        control = check.employer_contact_in_control(contact.site_id, contact.contact_on)
    return check.sites(contact.site_id, contact.contact_on) if control else []


def staff_risk_note(sites: list[Site]) -> str:
    return _("Logged by staff who worked at an intervention site: %(sites)s.") % {
        "sites": ", ".join(s.code for s in sites)
    }


def flag_staff_risk(contact: Contact, *, actor: Actor, check: StaffRisk | None = None) -> bool:
    """Set ``contact.contamination_risk`` from the author's site assignments, and keep one
    Exposure(source=staff) for a flagged contact (removed when an edit clears the flag).

    Call inside the transaction that saved the contact (or changed the author's assignments;
    ``check``, a :class:`StaffRisk` of the author, is then shared by the contacts). Each change
    is audited. Safe to repeat. Returns the flag.
    """
    sites = staff_risk_sites(contact, check)
    risk = bool(sites)
    if risk != contact.contamination_risk:
        contact.contamination_risk = risk
        contact.save(update_fields=["contamination_risk"])
        audit.record(
            "contact.contamination_risk",
            contact,
            actor=actor,
            trial=contact.trial,
            data={"changes": {"contamination_risk": [not risk, risk]}},
        )
    current = list(Exposure.objects.filter(contact=contact, source=Exposure.Source.STAFF))
    note = staff_risk_note(sites)
    if not risk:
        for exposure in current:
            audit.record_deleted(exposure, actor=actor)
            exposure.delete()
        return False
    if current:
        exposure = current[0]
        if exposure.exposed_on != contact.contact_on or exposure.note != note:
            before = audit.snapshot(exposure)
            exposure.exposed_on = contact.contact_on
            exposure.note = note
            exposure.save(update_fields=["exposed_on", "note"])
            audit.record_changed(exposure, before, actor=actor)
        return True
    exposure = Exposure.objects.create(
        trial_id=contact.trial_id,
        participant_id=contact.participant_id,
        site_id=contact.site_id,
        source=Exposure.Source.STAFF,
        exposed_on=contact.contact_on,
        contact=contact,
        note=note,
    )
    audit.record_created(exposure, actor=actor)
    return True
