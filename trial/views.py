"""Pages for trials and participants. Access is decided in trial.permissions."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from trial import permissions
from trial.models import AuditEvent, Membership, Participant, Trial
from trial.permissions import Perm

TrialView = Callable[..., HttpResponse]


def trial_view(perm: Perm) -> Callable[[TrialView], TrialView]:
    """Resolve ``code`` from the URL to a trial the user may use with ``perm``.

    Non-members get 404, members without the capability 403. The view receives the trial
    instead of the code, and the trial menu is shown.
    """

    def decorator(view: TrialView) -> TrialView:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, code: str, *args: Any, **kwargs: Any) -> HttpResponse:
            trial = permissions.get_trial(request.user, code, perm)
            request.current_trial = trial  # type: ignore[attr-defined]
            return view(request, trial, *args, **kwargs)

        return wrapped

    return decorator


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("trial")
        .order_by("trial__title")
    )
    if len(memberships) == 1:
        return redirect(memberships[0].trial)
    return render(request, "trial/home.html", {"memberships": memberships})


@trial_view(Perm.VIEW_TRIAL)
@require_GET
def dashboard(request: HttpRequest, trial: Trial) -> HttpResponse:
    user = request.user
    membership = permissions.membership(user, trial)
    sites = permissions.visible_sites(user, trial)
    site_rows = []
    totals = {"participants": 0, "active": 0, "withdrawn": 0}
    if permissions.has_perm(user, trial, Perm.VIEW_PARTICIPANTS):
        site_rows = list(
            sites.annotate(
                n_participants=Count("participants"),
                n_active=Count(
                    "participants", filter=Q(participants__status=Participant.Status.ACTIVE)
                ),
                n_withdrawn=Count(
                    "participants", filter=Q(participants__status=Participant.Status.WITHDRAWN)
                ),
            ).order_by("code")
        )
        for row in site_rows:
            for key in totals:
                totals[key] += getattr(row, f"n_{key}")
    largest = max((row.n_participants for row in site_rows), default=0) or 1
    context = {
        "trial": trial,
        "membership": membership,
        "arms": trial.arms.all(),
        "site_rows": site_rows,
        "largest": largest,
        "totals": totals,
        "site_count": sites.count(),
        "can": {p.value: permissions.has_perm(user, trial, p) for p in Perm},
    }
    return render(request, "trial/dashboard.html", context)


@trial_view(Perm.VIEW_PARTICIPANTS)
@require_GET
def participants(request: HttpRequest, trial: Trial) -> HttpResponse:
    queryset = (
        Participant.objects.filter(trial=trial)
        .visible_to(request.user)
        .select_related("site")
        .order_by("study_id")
    )
    query = request.GET.get("q", "").strip()
    if query:
        queryset = queryset.filter(study_id__icontains=query)
    site = request.GET.get("site", "")
    if site:
        queryset = queryset.filter(site__code=site)
    status = request.GET.get("status", "")
    if status in Participant.Status.values:
        queryset = queryset.filter(status=status)
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    context = {
        "trial": trial,
        "page": page,
        "query": query,
        "site": site,
        "status": status,
        "sites": permissions.visible_sites(request.user, trial),
        "statuses": Participant.Status.choices,
    }
    template = "trial/_participant_rows.html" if request.htmx else "trial/participants.html"
    return render(request, template, context)


@trial_view(Perm.VIEW_PARTICIPANTS)
@require_GET
def participant(request: HttpRequest, trial: Trial, study_id: str) -> HttpResponse:
    obj = permissions.get_participant(request.user, trial, study_id)
    events = []
    if permissions.has_perm(request.user, trial, Perm.VIEW_AUDIT):
        events = list(
            AuditEvent.objects.filter(
                target_type=Participant._meta.label_lower, target_id=str(obj.pk)
            ).order_by("created_at", "id")
        )
    return render(
        request, "trial/participant.html", {"trial": trial, "participant": obj, "events": events}
    )


@trial_view(Perm.VIEW_AUDIT)
@require_GET
def audit(request: HttpRequest, trial: Trial) -> HttpResponse:
    events = AuditEvent.objects.filter(trial=trial).order_by("-created_at", "-id")
    action = request.GET.get("action", "").strip()
    if action:
        events = events.filter(action__startswith=action)
    actor = request.GET.get("actor", "").strip()
    if actor:
        events = events.filter(actor_name__icontains=actor)
    target = request.GET.get("target", "").strip()
    if target:
        events = events.filter(target_repr__icontains=target)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    context = {"trial": trial, "page": page, "action": action, "actor": actor, "target": target}
    template = "trial/_audit_rows.html" if request.htmx else "trial/audit.html"
    return render(request, template, context)
