"""What the contact log adds to ``trial``'s pages (``trial.extensions``): the participant page's
contact panel, with the exposure flag for those who may know the arm, contacts and exposures in
its timeline, and a caseworker's recent contacts on their landing page."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Min, Sum
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from fidelity.contacts.views import contact_rows
from fidelity.models import Contact, Exposure
from trial import permissions
from trial.extensions import (
    Panel,
    TimelineEntry,
    register_landing_panel,
    register_participant_panel,
    register_timeline,
)
from trial.models import Participant, Trial
from trial.permissions import Perm

PANEL_CONTACTS = 10
LANDING_CONTACTS = 5


def sees_contacts(request: HttpRequest, participant: Participant) -> bool:
    """Contacts show which components were delivered, and so the arm: only for those who log
    contacts or may see allocations (blinded statisticians do not)."""
    user, trial = request.user, participant.trial
    return permissions.has_perm(user, trial, Perm.LOG_CONTACT) or permissions.has_perm(
        user, trial, Perm.VIEW_ALLOCATION
    )


def _contacts(participant: Participant) -> list[Contact]:
    return list(
        Contact.objects.filter(participant=participant)
        .prefetch_related("components")
        .order_by("-contact_on", "-id")
    )


@register_participant_panel
def contact_panel(request: HttpRequest, participant: Participant) -> Panel | None:
    if not sees_contacts(request, participant):
        return None
    trial = participant.trial
    user = request.user
    contacts = Contact.objects.filter(participant=participant)
    totals = contacts.aggregate(n=Count("id"), minutes=Sum("minutes"))
    recent = list(
        contacts.prefetch_related("components").order_by("-contact_on", "-id")[:PANEL_CONTACTS]
    )
    exposure = None
    # Exposures exist only for control participants, so they reveal the arm: shown under the
    # same rule as the arm itself (trial.permissions, Perm.VIEW_ALLOCATION).
    if permissions.has_perm(user, trial, Perm.VIEW_ALLOCATION):
        exposures = Exposure.objects.filter(participant=participant)
        received = exposures.received()
        summary = received.aggregate(n=Count("id"), first=Min("exposed_on"))
        exposure = {
            "count": summary["n"],
            "first": summary["first"],
            "sources": sorted(
                {Exposure.Source(s).label for s in received.values_list("source", flat=True)}
            ),
            "staff_risk": exposures.filter(source=Exposure.Source.STAFF).exists(),
        }
    can_log = (
        permissions.has_perm(user, trial, Perm.LOG_CONTACT)
        and participant.status == Participant.Status.ACTIVE
    )
    return Panel(
        "fidelity/contact_panel.html",
        {
            "contacts": recent,
            "count": totals["n"],
            "minutes": totals["minutes"] or 0,
            "more": totals["n"] > len(recent),
            "exposure": exposure,
            "log_url": reverse("fidelity:contacts", args=[trial.code])
            + f"?participant={participant.study_id}"
            if can_log
            else "",
        },
        order=30,
    )


@register_timeline
def contact_entries(request: HttpRequest, participant: Participant) -> Iterator[TimelineEntry]:
    if not sees_contacts(request, participant):
        return
    for contact in _contacts(participant):
        detail = ", ".join(c.name for c in contact.components.all())
        if contact.contamination_risk:
            detail = " · ".join(filter(None, [detail, _("contamination risk (staff)")]))
        yield TimelineEntry(
            contact.contact_on,
            "contact",
            _("Contact: %(mode)s, %(minutes)s min")
            % {"mode": contact.get_mode_display().lower(), "minutes": contact.minutes},
            detail=detail,
            at=contact.created_at,
        )
    if not permissions.has_perm(request.user, participant.trial, Perm.VIEW_ALLOCATION):
        return
    for exposure in Exposure.objects.filter(
        participant=participant, source=Exposure.Source.ASSESSMENT
    ):
        yield TimelineEntry(
            exposure.exposed_on,
            "exposure",
            _("Contamination reported at follow-up"),
            detail=exposure.note,
            at=exposure.created_at,
        )


@register_landing_panel
def recent_contacts(request: HttpRequest, trial: Trial) -> Panel | None:
    """The contacts the user logged most recently, with the way to log the next one."""
    if not permissions.has_perm(request.user, trial, Perm.LOG_CONTACT):
        return None
    mine = Contact.objects.filter(trial=trial, author_id=request.user.pk)
    recent = mine.for_listing().order_by("-contact_on", "-id")[:LANDING_CONTACTS]
    return Panel(
        "fidelity/_landing_contacts.html",
        {"rows": contact_rows(recent, request.user), "count": mine.count()},
        order=20,
    )
