"""Pages for trials and participants. Access is decided in trial.permissions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from trial import extensions, permissions, services
from trial.forms import (
    EnrolmentForm,
    LossToFollowUpForm,
    ScreeningForm,
    WithdrawalForm,
)
from trial.models import (
    COMING_DUE_DAYS,
    AuditEvent,
    Membership,
    Participant,
    ScreeningRecord,
    Trial,
    Visit,
)
from trial.permissions import AuthenticatedHttpRequest, Perm

TrialView = Callable[..., HttpResponseBase]


def trial_view(perm: Perm) -> Callable[[TrialView], TrialView]:
    """Resolve ``code`` from the URL to a trial the user may use with ``perm``.

    Non-members get 404, members without the capability 403. The view receives the trial
    instead of the code, and the trial menu is shown.
    """

    def decorator(view: TrialView) -> TrialView:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, code: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
            trial = permissions.get_trial(request.user, code, perm)
            request.current_trial = trial  # type: ignore[attr-defined]  # read by the trial menu
            return view(request, trial, *args, **kwargs)

        return wrapped

    return decorator


@login_required
@require_GET
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
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
    """The trial's landing page (its URL): the trial's figures for those who run or oversee
    it, the member's own work for the others (``permissions.landing``)."""
    if permissions.landing(request.user, trial) == permissions.Landing.DASHBOARD:
        return _figures(request, trial)
    context = {
        "trial": trial,
        "membership": permissions.membership(request.user, trial),
        "panels": extensions.landing_panels(request, trial),
    }
    return render(request, "trial/landing.html", context)


@trial_view(Perm.VIEW_TRIAL)
@require_GET
def statistics(request: HttpRequest, trial: Trial) -> HttpResponse:
    """The trial's figures (recruitment and follow-up), whoever lands where."""
    return _figures(request, trial)


def _figures(request: HttpRequest, trial: Trial) -> HttpResponse:
    # Imported here because the view ``dashboard`` would shadow the module at the top.
    from trial import dashboard as figures

    user = request.user
    sites = list(permissions.visible_sites(user, trial).order_by("code"))
    context: dict[str, Any] = {
        "trial": trial,
        "membership": permissions.membership(user, trial),
        "arms": trial.arms.all(),
        "site_count": len(sites),
        "site_scoped": permissions.site_ids(user, trial) is not None,
        "can": {p.value: permissions.has_perm(user, trial, p) for p in Perm},
    }
    if permissions.has_perm(user, trial, Perm.VIEW_PARTICIPANTS):
        today = timezone.localdate()
        recruitment = figures.recruitment(trial, sites, today=today)
        follow_up = figures.follow_up(trial, sites, today=today)
        context.update(
            recruitment=recruitment,
            follow_up=follow_up,
            # (caption, heading of the first column, rows): the template draws both alike.
            follow_up_tables=[
                (_("Follow-up by visit"), _("Visit"), follow_up.by_visit),
                (_("Follow-up by site"), _("Site"), follow_up.by_site),
            ],
            chart=figures.recruitment_chart(recruitment.months, trial.target_size),
            largest=max((row.enrolled for row in recruitment.sites), default=0) or 1,
            today=today,
        )
    return render(request, "trial/dashboard.html", context)


@trial_view(Perm.VIEW_PARTICIPANTS)
@require_GET
def participants(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
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
        for v in obj.visits.select_related("definition").order_by("due_on")
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
        "loss": getattr(obj, "loss_to_follow_up", None),
        "timeline": extensions.timeline_entries(request, obj),
        "panels": extensions.participant_panels(request, obj),
        "can_enrol": permissions.has_perm(request.user, trial, Perm.ENROL),
        "can_assess": permissions.has_perm(request.user, trial, Perm.RECORD_ASSESSMENT),
    }
    return render(request, "trial/participant.html", context)


@trial_view(Perm.VIEW_AUDIT)
@require_GET
def audit(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
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


def show_error(form: forms.BaseForm, error: services.TrialError) -> None:
    """Put a service's refusal next to the field it names, or above the form."""
    if isinstance(error, services.BaselineError):
        for key, message in error.errors.items():
            name = f"baseline_{key}"
            form.add_error(name if name in form.fields else None, message)
        return
    form.add_error(error.field if error.field in form.fields else None, error.message)


def form_saved(
    request: AuthenticatedHttpRequest,
    form: forms.BaseForm,
    write: Callable[..., object],
    *,
    message: str,
) -> bool:
    """Validate ``form`` and pass its data to ``write`` (a service, given the actor); its
    refusal lands next to the field it names. True when saved, with ``message`` shown."""
    if not form.is_valid():
        return False
    try:
        write(actor=request.user, **form.cleaned_data)
    except services.TrialError as error:
        show_error(form, error)
        return False
    messages.success(request, message)
    return True


@trial_view(Perm.ENROL)
def screening(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    sites = permissions.visible_sites(request.user, trial)
    form = ScreeningForm(request.POST or None, trial=trial, sites=sites)
    if request.method == "POST" and form.is_valid():
        try:
            services.record_screening(trial, actor=request.user, **form.cleaned_data)
        except services.TrialError as error:
            show_error(form, error)
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
def enrol(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    """Enrol a participant. A value outside an eligibility range is refused at its field, or,
    when the trial accepts such values with a warning, asks for confirmation first."""
    sites = permissions.visible_sites(request.user, trial)
    form = EnrolmentForm(request.POST or None, trial=trial, sites=sites)
    ineligible: list[str] = []
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
                accept_ineligible=bool(request.POST.get("confirm_ineligible")),
            )
        except services.EligibilityError as error:
            if error.refused:
                show_error(form, error)
                form.add_error(None, error.message)
            else:
                # Said above the form, where the page opens; detailed beside the button.
                form.add_error(None, error.message)
                labels = {d.key: d.label for d in form.covariates}
                ineligible = [f"{labels[key]}: {text}" for key, text in error.errors.items()]
        except services.TrialError as error:
            show_error(form, error)
        else:
            messages.success(
                request, _("Enrolled as %(study_id)s.") % {"study_id": participant.study_id}
            )
            outside = services.eligibility_problems(trial, participant.baseline)
            if outside:
                labels = {d.key: d.label for d in form.covariates}
                messages.warning(
                    request,
                    _(
                        "%(study_id)s is enrolled outside the eligibility criteria, as you "
                        "confirmed: %(values)s The audit trail records it."
                    )
                    % {
                        "study_id": participant.study_id,
                        "values": " ".join(f"{labels[k]}: {t}" for k, t in outside.items()),
                    },
                )
            return redirect(participant)
    context = {"trial": trial, "form": form, "ineligible": ineligible}
    return render(request, "trial/enrol.html", context)


def _plain(value: Any) -> Any:
    if value is None or value == "":
        return None
    if value in ("yes", "no"):
        return value == "yes"
    return str(value)


@trial_view(Perm.ENROL)
def withdraw(request: AuthenticatedHttpRequest, trial: Trial, study_id: str) -> HttpResponse:
    participant = permissions.get_participant(request.user, trial, study_id, Perm.ENROL)
    return _record_on_participant(
        request,
        trial,
        participant,
        WithdrawalForm(request.POST or None),
        services.withdraw_participant,
        success=_("The withdrawal is recorded."),
        template="trial/withdraw.html",
    )


@trial_view(Perm.ENROL)
def lost(request: AuthenticatedHttpRequest, trial: Trial, study_id: str) -> HttpResponse:
    """Mark a participant lost to follow-up (GET/POST), or found again (POST ``found``)."""
    participant = permissions.get_participant(request.user, trial, study_id, Perm.ENROL)
    if request.method == "POST" and "found" in request.POST:
        try:
            services.mark_found_again(participant, actor=request.user)
        except services.TrialError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("The participant is active again."))
        return redirect(participant)
    return _record_on_participant(
        request,
        trial,
        participant,
        LossToFollowUpForm(request.POST or None),
        services.mark_lost_to_follow_up,
        success=_("The loss to follow-up is recorded."),
        template="trial/lost.html",
    )


def _record_on_participant(
    request: AuthenticatedHttpRequest,
    trial: Trial,
    participant: Participant,
    form: forms.BaseForm,
    record: Callable[..., object],
    *,
    success: str,
    template: str,
) -> HttpResponse:
    """Show ``form`` about ``participant``; on a valid POST ``record`` it (a service) and go
    back to the participant. A refusal is shown next to the field it names."""
    if request.method == "POST" and form.is_valid():
        try:
            record(participant, actor=request.user, **form.cleaned_data)
        except services.TrialError as error:
            show_error(form, error)
        else:
            messages.success(request, success)
            return redirect(participant)
    context = {"trial": trial, "participant": participant, "form": form}
    return render(request, template, context)


@trial_view(Perm.RECORD_ASSESSMENT)
@require_GET
def worklist(request: HttpRequest, trial: Trial) -> HttpResponse:
    """Open visits of the user's participants whose window opens within a week, 50 a page.

    ``?sort=`` orders by window_end (the default: most urgent first), due_on, site, study_id
    or visit (schedule order); an unknown value falls back to the default.
    """
    orderings = {
        "window_end": ("window_end", "participant__study_id"),
        "due_on": ("due_on", "participant__study_id"),
        "site": ("participant__site__code", "window_end", "participant__study_id"),
        "study_id": ("participant__study_id", "due_on"),
        "visit": ("definition__offset_months", "window_end", "participant__study_id"),
    }
    sort = request.GET.get("sort", "")
    if sort not in orderings:
        sort = "window_end"
    today = timezone.localdate()
    horizon = today + dt.timedelta(days=COMING_DUE_DAYS)
    participants = Participant.objects.filter(trial=trial).visible_to(request.user)
    visits = (
        Visit.objects.due_by(horizon)
        .filter(participant__in=participants, participant__status=Participant.Status.ACTIVE)
        .select_related("participant__site", "definition")
        .order_by(*orderings[sort], "pk")
    )
    # Paged like the participant list: a busy site has hundreds of open visits.
    page = Paginator(visits, 50).get_page(request.GET.get("page"))
    notes = extensions.worklist_notes(request, list(page))
    rows = [{"visit": v, "status": v.status_on(today), "notes": notes.get(v.pk, [])} for v in page]
    columns = [
        ("study_id", _("Study id")),
        ("site", _("Site")),
        ("visit", _("Visit")),
        ("due_on", _("Due on")),
        ("window_end", _("Window closes")),
    ]
    context = {
        "trial": trial,
        "page": page,
        "rows": rows,
        "today": today,
        "sort": sort,
        "columns": columns,
    }
    return render(request, "trial/worklist.html", context)
