"""The participant timeline's answered instruments (registered in ``InstrumentsConfig.ready``):
"Assessment: 6 months — PHQ-9", with the scale scores and their bands."""

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
        details = score_texts(assessment)
        if not visit.window_start <= assessment.assessed_on <= visit.window_end:
            details.append(_("out of window"))
        yield TimelineEntry(
            assessment.assessed_on,
            "assessment",
            _("Assessment: %(visit)s — %(instrument)s")
            % {"visit": visit.definition.label, "instrument": assessment.instrument.name},
            detail=" · ".join(details),
            at=assessment.created_at,
        )
