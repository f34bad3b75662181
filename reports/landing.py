"""What ``reports`` puts on a member's landing page (``trial.extensions``): the analysis plan
in force and the latest reports, for those who order reports (statisticians)."""

from __future__ import annotations

from django.http import HttpRequest

from reports import pipeline
from reports.models import AnalysisPlan, ReportRequest
from trial import permissions
from trial.extensions import Panel, register_landing_panel
from trial.models import Trial
from trial.permissions import Perm

LANDING_REPORTS = 5


@register_landing_panel
def analysis(request: HttpRequest, trial: Trial) -> Panel | None:
    """The analysis plan (the version in force, and a draft being written) and the latest
    reports ordered in the trial."""
    user = request.user
    if not permissions.has_perm(user, trial, Perm.ORDER_REPORT):
        return None
    plans = {p.status: p for p in trial.analysis_plans.exclude(status="superseded")}
    reports = list(
        ReportRequest.objects.filter(trial=trial).order_by("-created_at")[:LANDING_REPORTS]
    )
    kinds = {key: kind.label for key, kind in pipeline.KINDS.items()}
    return Panel(
        "reports/_landing_analysis.html",
        {
            "locked": plans.get(AnalysisPlan.Status.LOCKED),
            "draft": plans.get(AnalysisPlan.Status.DRAFT),
            "can_edit": permissions.has_perm(user, trial, Perm.LOCK_ANALYSIS_PLAN),
            "can_list": permissions.has_perm(user, trial, Perm.DOWNLOAD_REPORT),
            "reports": [{"report": r, "kind": kinds.get(r.kind, r.kind)} for r in reports],
        },
        order=40,
    )
