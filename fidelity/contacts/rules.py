"""The rules one contact's values must meet, checked before anything is written
(``services.py`` applies them to every contact it logs or corrects).

:func:`clean` returns the values as they are stored (the partners once each in their order,
the components sorted, the note stripped) or raises TrialError at the first fault, naming the
field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

from fidelity.models import CONTACT_MINUTES_MAX, CONTACT_NOTE_MAX, Component, Contact
from trial.models import Participant, Site, Trial
from trial.services import TrialError


@dataclass(frozen=True)
class CleanContact:
    participant: Participant | None
    site: Site
    contact_on: dt.date
    mode: str
    minutes: int
    partners: list[str]
    components: list[Component]
    note: str


def clean(
    trial: Trial,
    *,
    allowed_sites: set[int] | None,
    participant: Participant | None,
    withdrawn_on: dt.date | None,
    site: Site | None,
    contact_on: dt.date,
    mode: str,
    minutes: int,
    partners: Iterable[str],
    components: Iterable[Component],
    note: str,
) -> CleanContact:
    """Check one contact's values against the trial's rules; raise TrialError at the first fault.

    ``allowed_sites`` are the actor's sites (None: all), ``withdrawn_on`` the participant's
    withdrawal date, if any.
    """
    site = _unit(trial, allowed_sites, participant, site)
    _check_date(participant, withdrawn_on, contact_on)
    _check_mode_and_minutes(mode, minutes)
    clean_partners = _partners(participant, partners)
    clean_components = sorted(set(components), key=lambda c: (c.order, c.code))
    if any(c.trial_id != trial.pk for c in clean_components):
        raise TrialError(_("Unknown intervention component."), field="components")
    note = note.strip()
    if len(note) > CONTACT_NOTE_MAX:
        raise TrialError(
            _("Keep the note to %(max)s characters.") % {"max": CONTACT_NOTE_MAX}, field="note"
        )
    return CleanContact(
        participant=participant,
        site=site,
        contact_on=contact_on,
        mode=mode,
        minutes=minutes,
        partners=clean_partners,
        components=clean_components,
        note=note,
    )


def _unit(
    trial: Trial,
    allowed_sites: set[int] | None,
    participant: Participant | None,
    site: Site | None,
) -> Site:
    """The contact's site: the participant's, or the one given for an employer contact; both
    inside the trial and the actor's sites."""
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
    return site


def _check_date(
    participant: Participant | None, withdrawn_on: dt.date | None, contact_on: dt.date
) -> None:
    if contact_on > timezone.localdate():
        raise TrialError(_("The contact date cannot be in the future."), field="contact_on")
    if participant is None:
        return
    if contact_on < participant.enrolled_on:
        raise TrialError(
            _("The contact date cannot be before enrolment (%(date)s).")
            % {"date": participant.enrolled_on.isoformat()},
            field="contact_on",
        )
    # Every scope of withdrawal includes "no further contact" (the others go further), so
    # no contact after the withdrawal date may be logged. A contact on or before that
    # date may still be entered late: it happened while they took part.
    if withdrawn_on is not None and contact_on > withdrawn_on:
        raise TrialError(
            _(
                "%(study_id)s withdrew on %(date)s and asked for no further contact: a "
                "contact after that date cannot be logged."
            )
            % {"study_id": participant.study_id, "date": withdrawn_on.isoformat()},
            field="contact_on",
        )


def _check_mode_and_minutes(mode: str, minutes: int) -> None:
    if mode not in Contact.Mode.values:
        raise TrialError(_("Choose how the contact took place."), field="mode")
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise TrialError(_("Give the length in whole minutes."), field="minutes")
    if not 1 <= minutes <= CONTACT_MINUTES_MAX:
        raise TrialError(
            _("A contact lasts from 1 to %(max)s minutes.") % {"max": CONTACT_MINUTES_MAX},
            field="minutes",
        )


def _partners(participant: Participant | None, partners: Iterable[str]) -> list[str]:
    """The partners once each, in the order of the choices (so equal sets compare equal); a
    contact about no single participant is with an employer, and without a participant."""
    given = list(partners)
    unknown = [p for p in given if p not in Contact.Partner.values]
    if unknown:
        raise TrialError(
            _("Unknown partner: %(codes)s.") % {"codes": ", ".join(map(str, unknown))},
            field="partners",
        )
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
    return clean_partners
