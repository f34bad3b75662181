"""Pages for the adaptations of the intervention: the list (with the form to note one, for
coordinators) and the correction page. Access is decided in ``trial.permissions``; the rules
are in ``fidelity.adaptations.services``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from fidelity.adaptations import services
from fidelity.adaptations.forms import AdaptationForm, NewAdaptationForm
from fidelity.forms import new_client_id, show_error
from fidelity.models import Adaptation
from trial import permissions
from trial.models import Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.services import TrialError
from trial.views import trial_view

FORM_METHODS = ["GET", "POST"]


def _visible_adaptations(request: AuthenticatedHttpRequest, trial: Trial) -> QuerySet[Adaptation]:
    """Trial-wide adaptations and those of the user's sites."""
    return (
        Adaptation.objects.visible_to(request.user, trial)
        .select_related("site", "component")
        .order_by("-adapted_on", "-id")
    )


@trial_view(Perm.VIEW_ALLOCATION)
@require_http_methods(FORM_METHODS)
def adaptations(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    """The adaptations noted so far; coordinators also get the form to note one."""
    can_edit = permissions.has_perm(request.user, trial, Perm.CONFIGURE_TRIAL)
    if request.method == "POST" and not can_edit:
        raise PermissionDenied
    form = None
    if can_edit:
        form = NewAdaptationForm(
            request.POST if request.method == "POST" else None,
            trial=trial,
            initial={"adapted_on": timezone.localdate(), "client_id": new_client_id()},
        )
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            services.record_adaptation(trial, actor=request.user, **form.cleaned_data)
        except TrialError as error:
            show_error(form, error)
        else:
            messages.success(request, _("The adaptation is recorded."))
            return redirect("fidelity:adaptations", trial.code)
    context = {
        "trial": trial,
        "form": form,
        "adaptations": _visible_adaptations(request, trial),
        "can_edit": can_edit,
    }
    return render(request, "fidelity/adaptations.html", context)


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def edit_adaptation(
    request: AuthenticatedHttpRequest, trial: Trial, adaptation_id: int
) -> HttpResponse:
    """Correct an adaptation; the audit trail keeps what it said before."""
    adaptation = get_object_or_404(_visible_adaptations(request, trial), pk=adaptation_id)
    initial = {
        "site": adaptation.site,
        "adapted_on": adaptation.adapted_on,
        "component": adaptation.component,
        "description": adaptation.description,
    }
    form = AdaptationForm(
        request.POST if request.method == "POST" else None, trial=trial, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.edit_adaptation(adaptation, actor=request.user, **form.cleaned_data)
        except TrialError as error:
            show_error(form, error)
        else:
            messages.success(request, _("The adaptation is corrected."))
            return redirect("fidelity:adaptations", trial.code)
    context = {"trial": trial, "form": form, "adaptation": adaptation}
    return render(request, "fidelity/adaptation_edit.html", context)
