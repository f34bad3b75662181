"""Which arm a participant or a site is in, on a given day: what decides whether a contact or
an event is contamination. Reads allocations (``randomisation``), never writes them."""

from __future__ import annotations

import datetime as dt

# fidelity reads allocations (which arm a participant or site is in); it never writes them.
from randomisation.models import Allocation
from trial.models import Site


def participant_in_control(participant_id: int, on: dt.date) -> bool:
    """True when the participant was allocated to a control arm on or before ``on``."""
    allocation = (
        Allocation.objects.filter(participant_id=participant_id).select_related("arm").first()
    )
    return allocation is not None and allocation.arm.is_control and allocation.allocated_on <= on


def intervention_since(site: Site) -> dt.date | None:
    """The day from which ``site`` is an intervention site, or None if it is not one.

    In a cluster trial the site's own allocation decides: an intervention arm from its date, a
    stepped-wedge site from its crossover date, a control arm never. In an individually
    randomised trial a site is an intervention site only when every participant allocated
    there is in an intervention arm (from the first such allocation); a site with both arms is
    not, since usual-service staff and the intervention's specialists work side by side there.
    """
    return site_arm(site)[1]


def site_arm(site: Site | int) -> tuple[bool, dt.date | None]:
    """Whether the site itself was allocated (a cluster trial), and :func:`intervention_since`."""
    site_allocation = (
        Allocation.objects.filter(site=site, participant__isnull=True).select_related("arm").first()
    )
    if site_allocation is not None:
        crossover = site_allocation.details.get("crossover_on")
        if crossover:
            return True, dt.date.fromisoformat(crossover)
        return True, None if site_allocation.arm.is_control else site_allocation.allocated_on
    allocations = list(
        Allocation.objects.filter(participant__site=site).values_list(
            "arm__is_control", "allocated_on"
        )
    )
    if not allocations or any(is_control for is_control, _day in allocations):
        return False, None
    return False, min(day for _control, day in allocations)


def site_is_control_on(site: Site, day: dt.date) -> bool:
    since = intervention_since(site)
    return since is None or day < since
