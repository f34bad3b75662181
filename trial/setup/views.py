"""Set-up pages: a trial's settings, arms, sites, staff, exclusion reasons, covariates and
follow-up schedule. Access is decided in trial.permissions (through ``trial_view``); the rules
are the services'. Every change is a POST that redirects, with a message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from trial import permissions
from trial.models import Arm, Membership, Trial
from trial.permissions import Perm
from trial.services import TrialError
from trial.setup import forms as setup_forms
from trial.setup import services
from trial.views import trial_view

FORM_METHODS = ["GET", "POST"]


def _actor(request: HttpRequest) -> User:
    # Every view here requires a login, so the user is a real account.
    return cast(User, request.user)


def _data(request: HttpRequest) -> Any:
    """The submitted data on a POST, else None (so the form is unbound)."""
    return request.POST if request.method == "POST" else None


def _overview_url(trial: Trial, section: str = "") -> str:
    url = reverse("trial:setup:overview", args=[trial.code])
    return f"{url}#{section}" if section else url


def _add_error(form: forms.Form, error: TrialError) -> None:
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


def _form_page(
    request: HttpRequest,
    trial: Trial,
    form: forms.Form,
    save: Callable[[dict[str, Any]], object],
    *,
    title: str,
    success: str,
    section: str,
    note: str = "",
) -> HttpResponse:
    """Show ``form``; on a valid POST call ``save`` (a service) and go back to the overview.

    A TrialError from the service becomes an error next to the field it names.
    """
    if request.method == "POST" and form.is_valid():
        try:
            save(form.cleaned_data)
        except TrialError as error:
            _add_error(form, error)
        else:
            messages.success(request, success)
            return redirect(_overview_url(trial, section))
    context = {
        "trial": trial,
        "form": form,
        "title": title,
        "note": note,
        "back": _overview_url(trial, section),
    }
    return render(request, "trial/setup/form.html", context)


def _remove_page(
    request: HttpRequest,
    trial: Trial,
    obj: object,
    remove: Callable[[], None],
    *,
    title: str,
    success: str,
    section: str,
) -> HttpResponse:
    """Ask for confirmation (GET); remove through the service (POST) and go back."""
    back = _overview_url(trial, section)
    if request.method == "POST":
        try:
            remove()
        except TrialError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, success)
        return redirect(back)
    context = {"trial": trial, "object": obj, "title": title, "back": back}
    return render(request, "trial/setup/confirm_remove.html", context)


def _locked_note(trial: Trial, text: str) -> str:
    return "" if trial.status == Trial.Status.SETUP else text


# Trial ------------------------------------------------------------------------------------


@login_required
@permission_required("trial.add_trial", raise_exception=True)
@require_http_methods(FORM_METHODS)
def new_trial(request: HttpRequest) -> HttpResponse:
    form = setup_forms.NewTrialForm(_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            trial = services.create_trial(**form.cleaned_data, actor=_actor(request))
        except TrialError as error:
            _add_error(form, error)
        else:
            messages.success(
                request,
                _("Trial created. You are its coordinator; add arms and sites next."),
            )
            return redirect(_overview_url(trial))
    return render(request, "trial/setup/new_trial.html", {"form": form})


@trial_view(Perm.CONFIGURE_TRIAL)
@require_GET
def overview(request: HttpRequest, trial: Trial) -> HttpResponse:
    sites = trial.sites.annotate(
        n_participants=Count("participants", distinct=True),
        n_screenings=Count("screenings", distinct=True),
    ).order_by("code")
    members = (
        Membership.objects.filter(trial=trial)
        .select_related("user")
        .prefetch_related("sites")
        .order_by("role", "user__username")
    )
    context = {
        "trial": trial,
        "in_setup": trial.status == Trial.Status.SETUP,
        "status_form": setup_forms.StatusForm(trial=trial),
        "can_change_status": bool(Trial.TRANSITIONS[Trial.Status(trial.status)]),
        "arms": trial.arms.order_by("code"),
        "sites": sites,
        "members": members,
        "can_manage_members": permissions.has_perm(request.user, trial, Perm.MANAGE_MEMBERS),
        "reasons": trial.exclusion_reasons.order_by("order", "code"),
        "covariates": trial.covariates.order_by("order", "key"),
        "visits": trial.visit_definitions.order_by("offset_months"),
    }
    return render(request, "trial/setup/overview.html", context)


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def edit_trial(request: HttpRequest, trial: Trial) -> HttpResponse:
    initial = {name: getattr(trial, name) for name in setup_forms.TrialForm.base_fields}
    form = setup_forms.TrialForm(_data(request), initial=initial)
    return _form_page(
        request,
        trial,
        form,
        lambda data: services.update_trial(trial, **data, actor=_actor(request)),
        title=_("Edit trial settings"),
        success=_("Trial settings saved."),
        section="settings",
        note=_locked_note(trial, _("The design is fixed once the trial has left set-up.")),
    )


@trial_view(Perm.CONFIGURE_TRIAL)
@require_POST
def change_status(request: HttpRequest, trial: Trial) -> HttpResponse:
    form = setup_forms.StatusForm(request.POST, trial=trial)
    if not form.is_valid():
        messages.error(request, _("Choose one of the statuses offered."))
        return redirect(_overview_url(trial, "settings"))
    try:
        trial = services.change_trial_status(
            trial, form.cleaned_data["status"], actor=_actor(request)
        )
    except TrialError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, _("The trial is now: %(status)s.") % {"status": trial.get_status_display()}
        )
    return redirect(_overview_url(trial, "settings"))


# Arms -------------------------------------------------------------------------------------

ARM_LOCK_NOTE = _(
    "The trial has left set-up: only the name and description can change; the code, "
    "allocation weight and control flag are fixed."
)


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def add_arm(request: HttpRequest, trial: Trial) -> HttpResponse:
    form = setup_forms.ArmForm(_data(request))
    return _form_page(
        request,
        trial,
        form,
        lambda data: services.add_arm(trial, **data, actor=_actor(request)),
        title=_("Add an arm"),
        success=_("Arm added."),
        section="arms",
    )


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def edit_arm(request: HttpRequest, trial: Trial, pk: int) -> HttpResponse:
    arm = get_object_or_404(Arm.objects.select_related("trial"), trial=trial, pk=pk)
    initial = {name: getattr(arm, name) for name in setup_forms.ArmForm.base_fields}
    form = setup_forms.ArmForm(_data(request), initial=initial)
    return _form_page(
        request,
        trial,
        form,
        lambda data: services.update_arm(arm, **data, actor=_actor(request)),
        title=_("Edit arm %(code)s") % {"code": arm.code},
        success=_("Arm saved."),
        section="arms",
        note=_locked_note(trial, str(ARM_LOCK_NOTE)),
    )


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def remove_arm(request: HttpRequest, trial: Trial, pk: int) -> HttpResponse:
    arm = get_object_or_404(Arm.objects.select_related("trial"), trial=trial, pk=pk)
    return _remove_page(
        request,
        trial,
        arm,
        lambda: services.remove_arm(arm, actor=_actor(request)),
        title=_("Remove arm %(code)s?") % {"code": arm.code},
        success=_("Arm removed."),
        section="arms",
    )


# Sites ------------------------------------------------------------------------------------


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def add_site(request: HttpRequest, trial: Trial) -> HttpResponse:
    form = setup_forms.SiteForm(_data(request))
    return _form_page(
        request,
        trial,
        form,
        lambda data: services.add_site(trial, **data, actor=_actor(request)),
        title=_("Add a site"),
        success=_("Site added."),
        section="sites",
    )


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def edit_site(request: HttpRequest, trial: Trial, pk: int) -> HttpResponse:
    site = get_object_or_404(trial.sites.select_related("trial"), pk=pk)
    initial = {name: getattr(site, name) for name in setup_forms.SiteForm.base_fields}
    form = setup_forms.SiteForm(_data(request), initial=initial)
    return _form_page(
        request,
        trial,
        form,
        lambda data: services.update_site(site, **data, actor=_actor(request)),
        title=_("Edit site %(code)s") % {"code": site.code},
        success=_("Site saved."),
        section="sites",
    )


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def remove_site(request: HttpRequest, trial: Trial, pk: int) -> HttpResponse:
    site = get_object_or_404(trial.sites.select_related("trial"), pk=pk)
    return _remove_page(
        request,
        trial,
        site,
        lambda: services.remove_site(site, actor=_actor(request)),
        title=_("Remove site %(code)s?") % {"code": site.code},
        success=_("Site removed."),
        section="sites",
    )


# Members ----------------------------------------------------------------------------------


@trial_view(Perm.MANAGE_MEMBERS)
@require_http_methods(FORM_METHODS)
def add_member(request: HttpRequest, trial: Trial) -> HttpResponse:
    form = setup_forms.NewMembershipForm(_data(request), trial=trial)
    return _form_page(
        request,
        trial,
        form,
        lambda data: services.add_membership(trial, **data, actor=_actor(request)),
        title=_("Add a member"),
        success=_("Member added."),
        section="members",
    )


def _get_membership(trial: Trial, pk: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("trial", "user").prefetch_related("sites"),
        trial=trial,
        pk=pk,
    )


@trial_view(Perm.MANAGE_MEMBERS)
@require_http_methods(FORM_METHODS)
def edit_member(request: HttpRequest, trial: Trial, pk: int) -> HttpResponse:
    membership = _get_membership(trial, pk)
    initial = {
        "role": membership.role,
        "sites": list(membership.sites.all()),
        "unblinded": membership.unblinded,
    }
    form = setup_forms.MembershipForm(_data(request), initial=initial, trial=trial)
    return _form_page(
        request,
        trial,
        form,
        lambda data: services.update_membership(membership, **data, actor=_actor(request)),
        title=_("Edit the membership of %(user)s") % {"user": membership.user.get_username()},
        success=_("Membership saved."),
        section="members",
    )


@trial_view(Perm.MANAGE_MEMBERS)
@require_http_methods(FORM_METHODS)
def remove_member(request: HttpRequest, trial: Trial, pk: int) -> HttpResponse:
    membership = _get_membership(trial, pk)
    return _remove_page(
        request,
        trial,
        membership,
        lambda: services.remove_membership(membership, actor=_actor(request)),
        title=_("Remove %(user)s from the trial?") % {"user": membership.user.get_username()},
        success=_("Member removed."),
        section="members",
    )


# Exclusion reasons ------------------------------------------------------------------------


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def add_reason(request: HttpRequest, trial: Trial) -> HttpResponse:
    form = setup_forms.ExclusionReasonForm(_data(request))
    return _form_page(
        request,
        trial,
        form,
        lambda data: services.add_exclusion_reason(trial, **data, actor=_actor(request)),
        title=_("Add an exclusion reason"),
        success=_("Exclusion reason added."),
        section="reasons",
    )


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def edit_reason(request: HttpRequest, trial: Trial, pk: int) -> HttpResponse:
    reason = get_object_or_404(trial.exclusion_reasons.select_related("trial"), pk=pk)
    initial = {name: getattr(reason, name) for name in setup_forms.ExclusionReasonForm.base_fields}
    form = setup_forms.ExclusionReasonForm(_data(request), initial=initial)
    return _form_page(
        request,
        trial,
        form,
        lambda data: services.update_exclusion_reason(reason, **data, actor=_actor(request)),
        title=_("Edit exclusion reason"),
        success=_("Exclusion reason saved."),
        section="reasons",
    )


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def remove_reason(request: HttpRequest, trial: Trial, pk: int) -> HttpResponse:
    reason = get_object_or_404(trial.exclusion_reasons.select_related("trial"), pk=pk)
    return _remove_page(
        request,
        trial,
        reason,
        lambda: services.remove_exclusion_reason(reason, actor=_actor(request)),
        title=_("Remove the exclusion reason “%(label)s”?") % {"label": reason.label},
        success=_("Exclusion reason removed."),
        section="reasons",
    )


# Baseline covariates ----------------------------------------------------------------------

COVARIATE_LOCK_NOTE = _(
    "The trial has left set-up: the key and type are fixed and options cannot be removed; "
    "labels can change and options can be added."
)


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def add_covariate(request: HttpRequest, trial: Trial) -> HttpResponse:
    form = setup_forms.CovariateForm(_data(request))
    return _form_page(
        request,
        trial,
        form,
        lambda data: services.add_covariate(trial, **data, actor=_actor(request)),
        title=_("Add a baseline covariate"),
        success=_("Covariate added."),
        section="covariates",
    )


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def edit_covariate(request: HttpRequest, trial: Trial, pk: int) -> HttpResponse:
    covariate = get_object_or_404(trial.covariates.select_related("trial"), pk=pk)
    initial = {name: getattr(covariate, name) for name in setup_forms.CovariateForm.base_fields}
    form = setup_forms.CovariateForm(_data(request), initial=initial)
    return _form_page(
        request,
        trial,
        form,
        lambda data: services.update_covariate(covariate, **data, actor=_actor(request)),
        title=_("Edit covariate %(key)s") % {"key": covariate.key},
        success=_("Covariate saved."),
        section="covariates",
        note=_locked_note(trial, str(COVARIATE_LOCK_NOTE)),
    )


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def remove_covariate(request: HttpRequest, trial: Trial, pk: int) -> HttpResponse:
    covariate = get_object_or_404(trial.covariates.select_related("trial"), pk=pk)
    return _remove_page(
        request,
        trial,
        covariate,
        lambda: services.remove_covariate(covariate, actor=_actor(request)),
        title=_("Remove covariate %(key)s?") % {"key": covariate.key},
        success=_("Covariate removed."),
        section="covariates",
    )


# Follow-up schedule -----------------------------------------------------------------------

VISIT_LOCK_NOTE = _(
    "The trial has left set-up: only the label can change. You can still add a visit after "
    "the last one."
)


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def add_visit(request: HttpRequest, trial: Trial) -> HttpResponse:
    form = setup_forms.VisitDefinitionForm(_data(request))
    return _form_page(
        request,
        trial,
        form,
        lambda data: services.add_visit_definition(trial, **data, actor=_actor(request)),
        title=_("Add a follow-up visit"),
        success=_("Visit added to the schedule."),
        section="visits",
    )


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def edit_visit(request: HttpRequest, trial: Trial, pk: int) -> HttpResponse:
    visit = get_object_or_404(trial.visit_definitions.select_related("trial"), pk=pk)
    initial = {name: getattr(visit, name) for name in setup_forms.VisitDefinitionForm.base_fields}
    form = setup_forms.VisitDefinitionForm(_data(request), initial=initial)
    return _form_page(
        request,
        trial,
        form,
        lambda data: services.update_visit_definition(visit, **data, actor=_actor(request)),
        title=_("Edit visit %(code)s") % {"code": visit.code},
        success=_("Visit saved."),
        section="visits",
        note=_locked_note(trial, str(VISIT_LOCK_NOTE)),
    )


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def remove_visit(request: HttpRequest, trial: Trial, pk: int) -> HttpResponse:
    visit = get_object_or_404(trial.visit_definitions.select_related("trial"), pk=pk)
    return _remove_page(
        request,
        trial,
        visit,
        lambda: services.remove_visit_definition(visit, actor=_actor(request)),
        title=_("Remove visit %(code)s?") % {"code": visit.code},
        success=_("Visit removed from the schedule."),
        section="visits",
    )
