"""Allocating in the browser: randomise a participant or the sites, enter a manual allocation,
mark one made in error, and unblind in an emergency. The rules live in randomisation.services."""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from randomisation import chain, services
from randomisation.forms import ManualAllocationForm, RandomiseForm, ReasonForm
from randomisation.hooks import arm_label
from randomisation.models import Allocation
from trial import permissions
from trial.models import Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.services import TrialError
from trial.views import show_error, trial_view


@trial_view(Perm.RANDOMISE)
def randomise(request: AuthenticatedHttpRequest, trial: Trial, study_id: str) -> HttpResponse:
    participant = permissions.get_participant(request.user, trial, study_id, Perm.RANDOMISE)
    existing = Allocation.objects.filter(participant=participant).first()
    if existing is not None:
        return redirect(participant)
    form = RandomiseForm(request.POST or None, initial={"token": secrets.token_urlsafe(16)})
    problem = None
    scheme = services.locked_scheme(trial)
    try:
        services.check_can_randomise(participant)
        chain.signing_key()  # a missing chain key is said before the form is sent
        if scheme is None:
            raise TrialError(_("The trial has no locked randomisation scheme."))
        if not scheme.is_cluster:
            services.factor_levels(scheme, participant)
    except TrialError as error:
        problem = error.message
    if request.method == "POST" and problem is None and form.is_valid():
        try:
            outcome = services.randomise(
                participant,
                actor=request.user,
                idempotency_key=f"web-{form.cleaned_data['token']}",
            )
        except TrialError as error:
            show_error(form, error)
        else:
            messages.success(
                request,
                _("%(study_id)s is randomised to %(arm)s (allocation #%(sequence)s).")
                % {
                    "study_id": participant.study_id,
                    "arm": arm_label(request, outcome.allocation),
                    "sequence": outcome.allocation.sequence,
                },
            )
            return redirect(participant)
    context = {
        "trial": trial,
        "participant": participant,
        "form": form,
        "problem": problem,
        "scheme": scheme,
    }
    return render(request, "randomisation/allocate_randomise.html", context)


@trial_view(Perm.RANDOMISE)
def manual(request: AuthenticatedHttpRequest, trial: Trial, study_id: str) -> HttpResponse:
    participant = permissions.get_participant(request.user, trial, study_id, Perm.RANDOMISE)
    form = ManualAllocationForm(request.POST or None, trial=trial)
    if request.method == "POST" and form.is_valid():
        try:
            allocation = services.record_manual(
                participant, actor=request.user, **form.cleaned_data
            )
        except TrialError as error:
            show_error(form, error)
        else:
            messages.success(
                request,
                _("The manual allocation is recorded as #%(sequence)s.")
                % {"sequence": allocation.sequence},
            )
            return redirect(participant)
    context = {"trial": trial, "participant": participant, "form": form}
    return render(request, "randomisation/allocate_manual.html", context)


@trial_view(Perm.UNBLIND_EMERGENCY)
def unblind(request: AuthenticatedHttpRequest, trial: Trial, study_id: str) -> HttpResponse:
    participant = permissions.get_participant(request.user, trial, study_id, Perm.UNBLIND_EMERGENCY)
    allocation = get_object_or_404(
        Allocation.objects.select_related("arm", "trial"), participant=participant
    )
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.unblind(allocation, reason=form.cleaned_data["reason"], actor=request.user)
        except TrialError as error:
            show_error(form, error)
        else:
            context = {
                "trial": trial,
                "participant": participant,
                "allocation": allocation,
                "arm": f"{allocation.arm.code} – {allocation.arm.name}",
            }
            return render(request, "randomisation/allocate_unblinded.html", context)
    context = {"trial": trial, "participant": participant, "form": form}
    return render(request, "randomisation/allocate_unblind.html", context)


@trial_view(Perm.RANDOMISE)
def in_error(request: AuthenticatedHttpRequest, trial: Trial, sequence: int) -> HttpResponse:
    allocation = get_object_or_404(
        Allocation.objects.select_related("participant__site", "site", "arm"),
        trial=trial,
        sequence=sequence,
    )
    if allocation.participant is not None:
        # Confirms the allocation exists only to users who may see the participant.
        permissions.get_participant(request.user, trial, allocation.participant.study_id)
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.flag_in_error(
                allocation, reason=form.cleaned_data["reason"], actor=request.user
            )
        except TrialError as error:
            show_error(form, error)
        else:
            messages.success(
                request,
                _(
                    "Allocation #%(sequence)s is marked as made in error; it stays in the "
                    "intention-to-treat analysis."
                )
                % {"sequence": sequence},
            )
            if allocation.participant is not None:
                return redirect(allocation.participant)
            return redirect("randomisation:overview", trial.code)
    context = {"trial": trial, "allocation": allocation, "form": form}
    return render(request, "randomisation/allocate_in_error.html", context)


@trial_view(Perm.RANDOMISE)
@require_POST
def randomise_sites(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    try:
        created = services.randomise_sites(trial, actor=request.user)
    except TrialError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("%(count)s sites are randomised.") % {"count": len(created)})
    return redirect("randomisation:overview", trial.code)
