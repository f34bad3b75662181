"""Randomising the sites of a cluster or stepped-wedge trial, from the overview page."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from randomisation.cluster import services
from trial.models import Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.services import TrialError
from trial.views import trial_view


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
