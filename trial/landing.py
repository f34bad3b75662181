"""What ``trial`` puts on a member's landing page (``trial.views.dashboard``): the follow-up
visits due for their participants. Other apps add their own panels (``trial.extensions``)."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from django.utils import timezone

from trial import permissions
from trial.extensions import Panel, register_landing_panel
from trial.models import COMING_DUE_DAYS, Participant, Trial, Visit
from trial.permissions import Perm

LANDING_VISITS = 8
"""Visits listed on the landing page; the worklist has them all."""


@register_landing_panel
def visits_due(request: HttpRequest, trial: Trial) -> Panel | None:
    """The most urgent open visits of the user's participants: those the worklist lists."""
    if not permissions.has_perm(request.user, trial, Perm.RECORD_ASSESSMENT):
        return None
    today = timezone.localdate()
    participants = Participant.objects.filter(trial=trial).visible_to(request.user)
    visits = Visit.objects.due_by(today + dt.timedelta(days=COMING_DUE_DAYS)).filter(
        participant__in=participants, participant__status=Participant.Status.ACTIVE
    )
    shown = list(
        visits.select_related("participant__site", "definition").order_by(
            "window_end", "participant__study_id", "pk"
        )[:LANDING_VISITS]
    )
    return Panel(
        "trial/_landing_visits.html",
        {
            "rows": [{"visit": v, "status": v.status_on(today)} for v in shown],
            "count": visits.count(),
            "overdue": visits.filter(window_end__lt=today).count(),
            "today": today,
        },
        order=10,
    )
