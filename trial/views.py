"""Pages for trials and participants. Access is decided in trial.permissions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from trial import permissions, services
from trial.forms import AssessmentForm, EnrolmentForm, ScreeningForm, WithdrawalForm
from trial.models import AuditEvent, Membership, Participant, ScreeningRecord, Trial, Visit
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
    today = timezone.localdate()
    visits = [
        {"visit": v, "status": v.status_on(today)}
        for v in obj.visits.select_related("definition", "assessment").order_by("due_on")
    ]
    labels = {d.key: d for d in trial.covariates.all()}
    baseline = []
    for key, value in obj.baseline.items():
        definition = labels.get(key)
        shown = dict(map(tuple, definition.choices)).get(value, value) if definition else value
        baseline.append((definition.label if definition else key, shown))
    context = {
        "trial": trial,
        "participant": obj,
        "events": events,
        "visits": visits,
        "baseline": baseline,
        "withdrawal": getattr(obj, "withdrawal", None),
        "can_enrol": permissions.has_perm(request.user, trial, Perm.ENROL),
        "can_assess": permissions.has_perm(request.user, trial, Perm.RECORD_ASSESSMENT),
    }
    return render(request, "trial/participant.html", context)


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


def _show_error(form: forms.BaseForm, error: services.TrialError) -> None:
    """Put a service's refusal next to the field it names, or above the form."""
    if isinstance(error, services.BaselineError):
        for key, message in error.errors.items():
            name = f"baseline_{key}"
            form.add_error(name if name in form.fields else None, message)
        return
    form.add_error(error.field if error.field in form.fields else None, error.message)


@trial_view(Perm.ENROL)
def screening(request: HttpRequest, trial: Trial) -> HttpResponse:
    sites = permissions.visible_sites(request.user, trial)
    form = ScreeningForm(request.POST or None, trial=trial, sites=sites)
    if request.method == "POST" and form.is_valid():
        try:
            services.record_screening(trial, actor=request.user, **form.cleaned_data)
        except services.TrialError as error:
            _show_error(form, error)
        else:
            messages.success(request, _("Screening recorded."))
            return redirect("trial:screening", trial.code)
    records = ScreeningRecord.objects.filter(trial=trial, site__in=sites)
    summary = records.aggregate(
        assessed=Count("id"),
        ineligible=Count("id", filter=Q(eligible=False)),
        declined=Count("id", filter=Q(declined=True)),
        enrolled=Count("id", filter=Q(participant__isnull=False)),
    )
    by_reason = (
        records.filter(eligible=False)
        .values("exclusion_reason__label")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    recent = records.select_related("site", "exclusion_reason", "participant")[:25]
    context = {
        "trial": trial,
        "form": form,
        "summary": summary,
        "by_reason": by_reason,
        "recent": recent,
    }
    return render(request, "trial/screening.html", context)


@trial_view(Perm.ENROL)
def enrol(request: HttpRequest, trial: Trial) -> HttpResponse:
    sites = permissions.visible_sites(request.user, trial)
    form = EnrolmentForm(request.POST or None, trial=trial, sites=sites)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            participant = services.enrol_participant(
                trial,
                site=data["site"],
                personal_number=data["personal_number"],
                enrolled_on=data["enrolled_on"],
                consent_version=data["consent_version"],
                consent_date=data["consent_date"],
                screening=data["screening"],
                baseline={k: _plain(v) for k, v in form.baseline().items()},
                actor=request.user,
            )
        except services.TrialError as error:
            _show_error(form, error)
        else:
            messages.success(
                request, _("Enrolled as %(study_id)s.") % {"study_id": participant.study_id}
            )
            return redirect(participant)
    return render(request, "trial/enrol.html", {"trial": trial, "form": form})


def _plain(value: Any) -> Any:
    if value is None or value == "":
        return None
    if value in ("yes", "no"):
        return value == "yes"
    return str(value)


@trial_view(Perm.ENROL)
def withdraw(request: HttpRequest, trial: Trial, study_id: str) -> HttpResponse:
    participant = permissions.get_participant(request.user, trial, study_id, Perm.ENROL)
    form = WithdrawalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.withdraw_participant(participant, actor=request.user, **form.cleaned_data)
        except services.TrialError as error:
            _show_error(form, error)
        else:
            messages.success(request, _("The withdrawal is recorded."))
            return redirect(participant)
    return render(
        request, "trial/withdraw.html", {"trial": trial, "participant": participant, "form": form}
    )


@trial_view(Perm.RECORD_ASSESSMENT)
@require_GET
def worklist(request: HttpRequest, trial: Trial) -> HttpResponse:
    """Open visits of the user's participants whose window opens within a week."""
    today = timezone.localdate()
    horizon = today + dt.timedelta(days=7)
    participants = Participant.objects.filter(trial=trial).visible_to(request.user)
    visits = list(
        Visit.objects.due_by(horizon)
        .filter(participant__in=participants, participant__status=Participant.Status.ACTIVE)
        .select_related("participant__site", "participant__trial", "definition")
        .order_by("window_end", "participant__study_id")
    )
    sort = request.GET.get("sort", "window_end")
    keys = {
        "window_end": lambda v: (v.window_end, v.participant.study_id),
        "due_on": lambda v: (v.due_on, v.participant.study_id),
        "study_id": lambda v: (v.participant.study_id, v.due_on),
        "site": lambda v: (v.participant.site.code, v.window_end),
    }
    visits.sort(key=keys.get(sort, keys["window_end"]))
    rows = [{"visit": v, "status": v.status_on(today)} for v in visits]
    context = {"trial": trial, "rows": rows, "today": today, "sort": sort}
    return render(request, "trial/worklist.html", context)


@trial_view(Perm.RECORD_ASSESSMENT)
def assess(request: HttpRequest, trial: Trial, visit_id: int) -> HttpResponse:
    visible = Participant.objects.filter(trial=trial).visible_to(request.user)
    visit = get_object_or_404(
        Visit.objects.select_related("participant__site", "definition"),
        pk=visit_id,
        participant__in=visible,
    )
    participant = visit.participant
    blocked = None
    try:
        services.ensure_data_entry_allowed(participant)
    except services.TrialError as error:
        blocked = error.message
    form = AssessmentForm(request.POST or None)
    if request.method == "POST" and blocked is None and form.is_valid():
        try:
            services.record_assessment(visit, values=form.cleaned_data, actor=request.user)
        except services.TrialError as error:
            _show_error(form, error)
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _("Assessment recorded."))
            return redirect(participant)
    context = {
        "trial": trial,
        "visit": visit,
        "participant": participant,
        "form": form,
        "blocked": blocked,
        "status": visit.status_on(timezone.localdate()),
    }
    return render(request, "trial/assess.html", context)
