"""What randomisation adds to the participant page: the allocation panel and timeline entries."""

from __future__ import annotations

from collections.abc import Iterator

from django.http import HttpRequest
from django.utils.translation import gettext as _

from randomisation.allocation.models import Allocation
from trial import permissions
from trial.extensions import (
    Panel,
    TimelineEntry,
    register_participant_panel,
    register_timeline,
)
from trial.models import Participant
from trial.permissions import Perm


def arm_label(request: HttpRequest, allocation: Allocation) -> str:
    """The arm's name for users who may know it, its code for everyone else."""
    if permissions.sees_arm_names(request.user, allocation.trial):
        return f"{allocation.arm.code} – {allocation.arm.name}"
    return allocation.arm.code


def _allocation(participant: Participant) -> Allocation | None:
    return (
        Allocation.objects.filter(participant=participant)
        .select_related("arm", "trial")
        .prefetch_related("flags", "unblindings")
        .first()
    )


@register_participant_panel
def allocation_panel(request: HttpRequest, participant: Participant) -> Panel:
    allocation = _allocation(participant)
    trial = participant.trial
    user = request.user
    return Panel(
        "randomisation/allocation/_panel.html",
        {
            "allocation": allocation,
            "arm": arm_label(request, allocation) if allocation else "",
            "flags": list(allocation.flags.all()) if allocation else [],
            "unblindings": list(allocation.unblindings.all()) if allocation else [],
            "can_randomise": permissions.has_perm(user, trial, Perm.RANDOMISE),
            "can_unblind": permissions.has_perm(user, trial, Perm.UNBLIND_EMERGENCY),
        },
        order=10,
    )


@register_timeline
def allocation_entries(request: HttpRequest, participant: Participant) -> Iterator[TimelineEntry]:
    allocation = _allocation(participant)
    if allocation is None:
        return
    yield TimelineEntry(
        allocation.allocated_on,
        "allocation",
        _("Randomised to %(arm)s") % {"arm": arm_label(request, allocation)},
        detail=f"#{allocation.sequence} · {allocation.get_source_display()}",
        at=allocation.created_at,
    )
    for flag in allocation.flags.all():
        yield TimelineEntry(
            flag.created_at.date(), "flag", flag.get_kind_display(), flag.reason, flag.created_at
        )
    for record in allocation.unblindings.all():
        yield TimelineEntry(
            record.created_at.date(),
            "unblinding",
            _("Emergency unblinding by %(user)s") % {"user": record.unblinded_by_name},
            record.reason,
            record.created_at,
        )
