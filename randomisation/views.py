"""The randomisation overview: the scheme in force (or the draft being written), the arms
with their allocation counts, and for a cluster trial its sites; it links to the pages of the
sub-domains (``schemes``, ``allocation``, ``simulation``, ``cluster``).

Users without ``VIEW_ALLOCATION`` see arm codes only, never arm names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from randomisation.allocation.models import Allocation
from randomisation.allocation.views import may_see_log
from randomisation.schemes import consort
from randomisation.schemes.models import Scheme
from randomisation.schemes.views import arm_label, problem_list
from trial import permissions
from trial.models import Trial
from trial.permissions import Perm
from trial.views import trial_view


def _can(request: HttpRequest, trial: Trial, perm: Perm) -> bool:
    return permissions.has_perm(request.user, trial, perm)


@trial_view(Perm.VIEW_TRIAL)
@require_GET
def overview(request: HttpRequest, trial: Trial) -> HttpResponse:
    show_names = permissions.sees_arm_names(request.user, trial)
    current = Scheme.objects.current_for(trial)
    locked = Scheme.objects.locked_for(trial)
    shown = locked or current
    draft = current if current is not None and not current.is_locked else None
    can_configure = _can(request, trial, Perm.CONFIGURE_RANDOMISATION)
    sites = permissions.visible_sites(request.user, trial).order_by("code")
    allocations = Allocation.objects.filter(trial=trial, participant__isnull=False)
    if permissions.site_ids(request.user, trial) is not None:
        allocations = allocations.filter(participant__site__in=sites)
    counts = dict(allocations.values_list("arm_id").annotate(n=Count("id")))
    arms = [
        {
            "label": arm_label(arm, show_names),
            "weight": arm.allocation_weight,
            "count": counts.get(arm.pk, 0),
        }
        for arm in trial.arms.order_by("code")
    ]
    context: dict[str, Any] = {
        "trial": trial,
        "scheme": shown,
        "draft": draft,
        "facts": consort.scheme_facts(shown) if shown else [],
        "consort": consort.randomisation_text(shown) if shown else [],
        "arms": arms,
        "total": sum(row["count"] for row in arms),
        "show_names": show_names,
        "can": {
            "configure": can_configure,
            "log": may_see_log(request, trial),
            "sealed": _can(request, trial, Perm.VIEW_SEALED_LIST),
        },
        "problems": problem_list(draft) if draft and can_configure else [],
    }
    if shown is not None and shown.is_cluster:
        context.update(_cluster_context(request, trial, shown, sites, show_names))
    return render(request, "randomisation/overview.html", context)


def _cluster_context(
    request: HttpRequest, trial: Trial, scheme: Scheme, sites: Iterable[Any], show_names: bool
) -> dict[str, Any]:
    by_site = {
        a.site_id: a
        for a in Allocation.objects.filter(trial=trial, participant=None).select_related("arm")
    }
    stepped = scheme.method == Scheme.Method.STEPPED_WEDGE
    rows = []
    for site in sites:
        allocation = by_site.get(site.pk)
        row: dict[str, Any] = {"site": site, "allocated": allocation is not None}
        if allocation is not None:
            row["arm"] = arm_label(allocation.arm, show_names)
            row["on"] = allocation.allocated_on
            # The step tells when a site gets the intervention, so it is the allocation.
            if stepped and show_names:
                row["step"] = allocation.details.get("step")
                row["crossover_on"] = allocation.details.get("crossover_on")
        rows.append(row)
    return {
        "site_rows": rows,
        "stepped": stepped,
        "can_randomise_sites": scheme.is_locked
        and not by_site
        and _can(request, trial, Perm.RANDOMISE),
    }
