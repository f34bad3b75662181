"""The participant timeline's answered instruments (registered in ``InstrumentsConfig.ready``):
one entry per instrument answered at a visit, "Assessment: 6 months", with the instrument, its
scale scores and their bands ("PHQ-9 · PHQ-9 total: 12 (moderate)"), and whether the answers
were given outside the visit's window."""

from __future__ import annotations

from collections.abc import Iterator

from django.http import HttpRequest
from django.utils.translation import gettext as _

from instruments.hooks import recorded_answers, score_texts
from trial.extensions import TimelineEntry, register_timeline
from trial.models import Participant


@register_timeline
def assessment_entries(request: HttpRequest, participant: Participant) -> Iterator[TimelineEntry]:
    for assessment in recorded_answers(participant):
        visit = assessment.visit
        details = [assessment.instrument.name, *score_texts(assessment)]
        if not visit.window_start <= assessment.assessed_on <= visit.window_end:
            details.append(_("out of window"))
        yield TimelineEntry(
            assessment.assessed_on,
            "assessment",
            _("Assessment: %(visit)s") % {"visit": visit.definition.label},
            detail=" · ".join(details),
            at=assessment.created_at,
        )
