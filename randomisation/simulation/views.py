"""Simulating a draft or locked scheme over many virtual trials: asking for a run, following
it, and reading its report (imbalance and predictability)."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from randomisation.schemes.models import Scheme
from randomisation.schemes.views import problem_list
from randomisation.simulation import services
from randomisation.simulation.forms import SimulationForm
from randomisation.simulation.models import SimulationRun
from trial.models import Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.services import TrialError
from trial.views import trial_view

FORM_METHODS = ["GET", "POST"]


def _actor(request: HttpRequest) -> User:
    # Every view here requires a login, so the user is a real account.
    return cast(User, request.user)


@trial_view(Perm.CONFIGURE_RANDOMISATION)
@require_http_methods(FORM_METHODS)
def simulations(request: HttpRequest, trial: Trial) -> HttpResponse:
    current = Scheme.objects.current_for(trial)
    runs = (
        SimulationRun.objects.filter(scheme__trial=trial)
        .select_related("scheme")
        .order_by("-created_at", "-pk")[:20]
    )
    context: dict[str, Any] = {"trial": trial, "scheme": current, "runs": runs, "form": None}
    if current is None or current.is_cluster:
        return render(request, "randomisation/simulation/list.html", context)
    problems = problem_list(current)
    form = _simulation_form(request, current)
    if request.method == "POST" and not problems and form.is_valid():
        data = form.cleaned_data
        try:
            run = services.request_simulation(
                current,
                n_trials=data["n_trials"],
                trial_size=data["trial_size"],
                strata_mix=data["strata_mix"],
                actor=_actor(request),
            )
        except TrialError as error:
            form.add_error(None, error.message)
        else:
            return redirect("randomisation:simulation", trial.code, run.pk)
    context.update(form=form, problems=problems)
    return render(request, "randomisation/simulation/list.html", context)


def _simulation_form(request: HttpRequest, scheme: Scheme) -> SimulationForm:
    trial = scheme.trial
    levels = services.mix_levels(scheme)
    labels = _factor_labels(trial)
    size = trial.target_size
    initial = {
        "trial_size": min(size, SimulationForm.base_fields["trial_size"].max_value),  # type: ignore[attr-defined]  # an IntegerField
        "n_trials": max(10, min(1000, SimulationForm.MAX_ALLOCATIONS // max(size, 1))),
    }
    data = request.POST if request.method == "POST" else None
    return SimulationForm(data, levels=levels, labels=labels, initial=initial)


@trial_view(Perm.CONFIGURE_RANDOMISATION)
@require_GET
def simulation(request: AuthenticatedHttpRequest, trial: Trial, run_id: int) -> HttpResponse:
    run = get_object_or_404(
        SimulationRun.objects.select_related("scheme"), pk=run_id, scheme__trial=trial
    )
    labels = _factor_labels(trial)
    context = {
        "trial": trial,
        "run": run,
        "poll_url": reverse("randomisation:simulation", args=[trial.code, run.pk]),
        "active": run.active,
        "settings": _run_settings(run, labels),
        "report": _simulation_report(run, labels)
        if run.status == SimulationRun.Status.DONE
        else None,
    }
    template = (
        "randomisation/simulation/_detail.html"
        if request.htmx
        else "randomisation/simulation/detail.html"
    )
    return render(request, template, context)


def _factor_labels(trial: Trial) -> dict[str, str]:
    return {"site": _("Site")} | {c.key: c.label for c in trial.covariates.all()}


def _run_settings(run: SimulationRun, labels: dict[str, str]) -> list[tuple[str, str]]:
    p = run.parameters
    spec = p.get("spec", {})
    facts = [
        (_("Scheme version"), str(p.get("scheme_version", run.scheme.version))),
        (_("Method"), str(Scheme.Method(spec["method"]).label) if spec else "–"),
        (_("Virtual trials"), str(p.get("n_trials", "–"))),
        (_("Participants per trial"), str(p.get("trial_size", "–"))),
    ]
    for factor, shares in p.get("strata_mix", {}).items():
        text = ", ".join(f"{level} {round(share * 100, 1)} %" for level, share in shares.items())
        facts.append((_("Mix of %(factor)s") % {"factor": labels.get(factor, factor)}, text))
    return facts


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _distribution_row(label: str, d: dict[str, float] | None, *, percent: bool = False) -> Any:
    if not d:
        return None
    show = _pct if percent else _fmt
    return {
        "label": label,
        "cells": [show(d[key]) for key in ("mean", "sd", "p5", "p50", "p95", "max")],
    }


def _simulation_report(run: SimulationRun, labels: dict[str, str]) -> dict[str, Any]:
    r = run.result
    size = int(r.get("trial_size", 0))
    imbalance_rows = [
        _distribution_row(
            _("Overall: largest difference from the planned arm size (participants)"),
            r.get("overall_imbalance"),
        ),
        _distribution_row(
            _("Overall: range of arm sizes divided by their weights"), r.get("overall_range")
        ),
        _distribution_row(_("Within strata: the worst stratum"), r.get("stratum_imbalance_max")),
        _distribution_row(_("Within strata: mean over strata"), r.get("stratum_imbalance_mean")),
    ]
    for factor, d in (r.get("marginal_imbalance_max") or {}).items():
        imbalance_rows.append(
            _distribution_row(
                _("%(factor)s: the worst level") % {"factor": labels.get(factor, factor)}, d
            )
        )
    for factor, d in (r.get("marginal_imbalance_mean") or {}).items():
        imbalance_rows.append(
            _distribution_row(
                _("%(factor)s: mean over levels") % {"factor": labels.get(factor, factor)}, d
            )
        )
    thresholds = [
        {
            "label": _("More than %(share)s of the trial size (over %(n)s participants)")
            % {"share": _pct(float(share)), "n": _fmt(float(share) * size, 1)},
            "value": _pct(value),
        }
        for share, value in sorted(
            (r.get("share_above") or {}).items(), key=lambda item: float(item[0])
        )
    ]
    predictability = r.get("predictability") or {}
    overall = r.get("overall_imbalance") or {}
    reading = _(
        "In 95 %% of %(n)s virtual trials of %(size)s participants, no arm was more than "
        "%(p95)s participants away from its planned size; a recruiter who knew every earlier "
        "allocation and always guessed the likeliest next arm would have been right %(guess)s "
        "of the time, against %(chance)s by chance."
    ) % {
        "n": r.get("n_trials"),
        "size": size,
        "p95": _fmt(overall.get("p95"), 1),
        "guess": _pct(predictability.get("mean")),
        "chance": _pct(r.get("chance_rate")),
    }
    return {
        "imbalance": [row for row in imbalance_rows if row],
        "predictability": [
            row
            for row in [
                _distribution_row(
                    _("Share of allocations guessed right"), predictability, percent=True
                )
            ]
            if row
        ],
        "excess": _pct(r.get("excess_predictability")),
        "chance": _pct(r.get("chance_rate")),
        "thresholds": thresholds,
        "reading": reading,
    }
