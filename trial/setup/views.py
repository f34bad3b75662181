"""Set-up pages: a trial's settings, arms, sites, staff, exclusion reasons, covariates and
follow-up schedule. Access is decided in trial.permissions (through ``trial_view``); the rules
are the services'. Every change is a POST that redirects, with a message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from trial import permissions
from trial.models import Membership, Trial
from trial.permissions import Perm
from trial.services import TrialError
from trial.setup import forms as setup_forms
from trial.setup import services
from trial.views import TrialView, trial_view

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
    return "" if trial.in_setup else text


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
        "in_setup": trial.in_setup,
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


# The lists on the set-up page whose rows are added, edited and removed alike --------------


@dataclass(frozen=True)
class Part:
    """One list on the set-up page: its form, its rows, its three services and its words.

    The titles are functions, so they are translated when a page is shown; the messages are
    lazy for the same reason.
    """

    name: str
    section: str
    form: type[forms.Form]
    rows: Callable[[Trial], QuerySet[Any]]
    add: Callable[..., object]
    update: Callable[..., object]
    remove: Callable[..., None]
    add_title: Callable[[], str]
    edit_title: Callable[[Any], str]
    remove_title: Callable[[Any], str]
    added: str | Promise
    saved: str | Promise
    removed: str | Promise
    lock_note: str | Promise = ""


def _part_views(part: Part) -> tuple[TrialView, TrialView, TrialView]:
    """The add, edit and remove pages of ``part``, each a POST that redirects to its section."""

    def add(request: HttpRequest, trial: Trial) -> HttpResponse:
        return _form_page(
            request,
            trial,
            part.form(_data(request)),
            lambda data: part.add(trial, **data, actor=_actor(request)),
            title=part.add_title(),
            success=str(part.added),
            section=part.section,
        )

    def edit(request: HttpRequest, trial: Trial, pk: int) -> HttpResponse:
        row = get_object_or_404(part.rows(trial).select_related("trial"), pk=pk)
        initial = {name: getattr(row, name) for name in part.form.base_fields}
        return _form_page(
            request,
            trial,
            part.form(_data(request), initial=initial),
            lambda data: part.update(row, **data, actor=_actor(request)),
            title=part.edit_title(row),
            success=str(part.saved),
            section=part.section,
            note=_locked_note(trial, str(part.lock_note)) if part.lock_note else "",
        )

    def remove(request: HttpRequest, trial: Trial, pk: int) -> HttpResponse:
        row = get_object_or_404(part.rows(trial).select_related("trial"), pk=pk)
        return _remove_page(
            request,
            trial,
            row,
            lambda: part.remove(row, actor=_actor(request)),
            title=part.remove_title(row),
            success=str(part.removed),
            section=part.section,
        )

    views = []
    for view in (add, edit, remove):
        # Named as if written out (add_arm, edit_arm, ...), for tracebacks and the resolver.
        view.__name__ = view.__qualname__ = f"{view.__name__}_{part.name}"
        views.append(trial_view(Perm.CONFIGURE_TRIAL)(require_http_methods(FORM_METHODS)(view)))
    return views[0], views[1], views[2]


ARMS = Part(
    name="arm",
    section="arms",
    form=setup_forms.ArmForm,
    rows=lambda trial: trial.arms.all(),
    add=services.add_arm,
    update=services.update_arm,
    remove=services.remove_arm,
    add_title=lambda: _("Add an arm"),
    edit_title=lambda arm: _("Edit arm %(code)s") % {"code": arm.code},
    remove_title=lambda arm: _("Remove arm %(code)s?") % {"code": arm.code},
    added=gettext_lazy("Arm added."),
    saved=gettext_lazy("Arm saved."),
    removed=gettext_lazy("Arm removed."),
    lock_note=gettext_lazy(
        "The trial has left set-up: only the name and description can change; the code, "
        "allocation weight and control flag are fixed."
    ),
)
SITES = Part(
    name="site",
    section="sites",
    form=setup_forms.SiteForm,
    rows=lambda trial: trial.sites.all(),
    add=services.add_site,
    update=services.update_site,
    remove=services.remove_site,
    add_title=lambda: _("Add a site"),
    edit_title=lambda site: _("Edit site %(code)s") % {"code": site.code},
    remove_title=lambda site: _("Remove site %(code)s?") % {"code": site.code},
    added=gettext_lazy("Site added."),
    saved=gettext_lazy("Site saved."),
    removed=gettext_lazy("Site removed."),
)
REASONS = Part(
    name="reason",
    section="reasons",
    form=setup_forms.ExclusionReasonForm,
    rows=lambda trial: trial.exclusion_reasons.all(),
    add=services.add_exclusion_reason,
    update=services.update_exclusion_reason,
    remove=services.remove_exclusion_reason,
    add_title=lambda: _("Add an exclusion reason"),
    edit_title=lambda reason: _("Edit exclusion reason"),
    remove_title=lambda reason: (
        _("Remove the exclusion reason “%(label)s”?") % {"label": reason.label}
    ),
    added=gettext_lazy("Exclusion reason added."),
    saved=gettext_lazy("Exclusion reason saved."),
    removed=gettext_lazy("Exclusion reason removed."),
)
COVARIATES = Part(
    name="covariate",
    section="covariates",
    form=setup_forms.CovariateForm,
    rows=lambda trial: trial.covariates.all(),
    add=services.add_covariate,
    update=services.update_covariate,
    remove=services.remove_covariate,
    add_title=lambda: _("Add a baseline covariate"),
    edit_title=lambda covariate: _("Edit covariate %(key)s") % {"key": covariate.key},
    remove_title=lambda covariate: _("Remove covariate %(key)s?") % {"key": covariate.key},
    added=gettext_lazy("Covariate added."),
    saved=gettext_lazy("Covariate saved."),
    removed=gettext_lazy("Covariate removed."),
    lock_note=gettext_lazy(
        "The trial has left set-up: the key and type are fixed and options cannot be removed; "
        "labels can change and options can be added."
    ),
)
VISITS = Part(
    name="visit",
    section="visits",
    form=setup_forms.VisitDefinitionForm,
    rows=lambda trial: trial.visit_definitions.all(),
    add=services.add_visit_definition,
    update=services.update_visit_definition,
    remove=services.remove_visit_definition,
    add_title=lambda: _("Add a follow-up visit"),
    edit_title=lambda visit: _("Edit visit %(code)s") % {"code": visit.code},
    remove_title=lambda visit: _("Remove visit %(code)s?") % {"code": visit.code},
    added=gettext_lazy("Visit added to the schedule."),
    saved=gettext_lazy("Visit saved."),
    removed=gettext_lazy("Visit removed from the schedule."),
    lock_note=gettext_lazy(
        "The trial has left set-up: only the label can change. You can still add a visit after "
        "the last one."
    ),
)

add_arm, edit_arm, remove_arm = _part_views(ARMS)
add_site, edit_site, remove_site = _part_views(SITES)
add_reason, edit_reason, remove_reason = _part_views(REASONS)
add_covariate, edit_covariate, remove_covariate = _part_views(COVARIATES)
add_visit, edit_visit, remove_visit = _part_views(VISITS)
