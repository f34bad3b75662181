"""The participant timeline's answered instruments (registered in ``InstrumentsConfig.ready``)."""

from __future__ import annotations

from collections.abc import Iterator

from django.http import HttpRequest
from django.utils.translation import gettext as _

from instruments.models import Assessment
from trial.extensions import TimelineEntry, register_timeline
from trial.models import Participant


@register_timeline
def assessment_entries(request: HttpRequest, participant: Participant) -> Iterator[TimelineEntry]:
    """One entry per instrument answered at a visit: the visit, the instrument, and whether the
    visit was completed outside its window."""
    assessments = (
        Assessment.objects.filter(visit__participant=participant)
        .select_related("visit__definition", "instrument")
        .order_by("assessed_on", "created_at", "pk")
    )
    for assessment in assessments:
        visit = assessment.visit
        detail = assessment.instrument.name
        if visit.in_window is False:
            detail += " · " + _("out of window")
        yield TimelineEntry(
            assessment.assessed_on,
            "assessment",
            _("Assessment: %(visit)s") % {"visit": visit.definition.label},
            detail=detail,
            at=assessment.created_at,
        )
