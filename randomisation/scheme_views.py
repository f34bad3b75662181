"""Pages for configuring and inspecting randomisation: the scheme, locking and its commitment,
the allocation log and its verification, the sealed lists and exports, and simulations.

Access is decided in trial.permissions (through ``trial_view``). Users without
``VIEW_ALLOCATION`` see arm codes only, never arm names; sealed lists and exports need
``VIEW_SEALED_LIST`` (the unblinded statistician).
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from randomisation import chain, consort, services, simulation_jobs
from randomisation.models import Allocation, BlockSlot, Scheme, SimulationRun
from randomisation.scheme_forms import SchemeForm, SimulationForm
from trial import audit, permissions
from trial.models import Arm, Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.services import TrialError
from trial.text import spreadsheet_cell
from trial.views import trial_view

FORM_METHODS = ["GET", "POST"]
LOG_PAGE_SIZE = 50


def _actor(request: HttpRequest) -> User:
    # Every view here requires a login, so the user is a real account.
    return cast(User, request.user)


def _can(request: HttpRequest, trial: Trial, perm: Perm) -> bool:
    return permissions.has_perm(request.user, trial, perm)


def arm_label(arm: Arm, show_names: bool) -> str:
    """The arm's code and name for users who may know it, its code for everyone else."""
    return f"{arm.code} – {arm.name}" if show_names else arm.code


def _may_see_log(request: HttpRequest, trial: Trial) -> bool:
    return any(
        _can(request, trial, perm)
        for perm in (Perm.VIEW_AUDIT, Perm.RANDOMISE, Perm.VIEW_SEALED_LIST)
    )


# --- overview ------------------------------------------------------------------------------


@trial_view(Perm.VIEW_TRIAL)
@require_GET
def overview(request: HttpRequest, trial: Trial) -> HttpResponse:
    show_names = permissions.sees_arm_names(request.user, trial)
    current = services.current_scheme(trial)
    locked = services.locked_scheme(trial)
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
            "log": _may_see_log(request, trial),
            "sealed": _can(request, trial, Perm.VIEW_SEALED_LIST),
        },
        "problems": _problem_list(draft) if draft and can_configure else [],
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


def _problem_list(scheme: Scheme) -> list[str]:
    """What stops the scheme from being locked, each with the field it concerns."""
    form = SchemeForm(trial=scheme.trial)
    listed = []
    for field, message in services.scheme_problems(scheme).items():
        label = form.fields[field].label if field in form.fields else None
        if field == "minimisation_factors":
            label = _("Minimisation factors")
        listed.append(f"{label}: {message}" if label else message)
    return listed


# --- the scheme ----------------------------------------------------------------------------


@trial_view(Perm.CONFIGURE_RANDOMISATION)
@require_http_methods(FORM_METHODS)
def scheme(request: HttpRequest, trial: Trial) -> HttpResponse:
    current = services.current_scheme(trial)
    if current is not None and current.is_locked:
        return _locked_scheme_page(request, trial, current)
    initial = SchemeForm.initial_for(current) if current else {}
    form = SchemeForm(
        request.POST if request.method == "POST" else None, trial=trial, initial=initial
    )
    general: list[str] = []
    if request.method == "POST" and form.is_valid():
        values = form.scheme_values()
        candidate = Scheme(trial=trial, version=current.version if current else 1, **values)
        general = form.add_problems(services.scheme_problems(candidate))
        if not form.errors and not form.factor_errors:
            try:
                services.save_draft_scheme(trial, current, values, actor=_actor(request))
            except TrialError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                messages.success(request, _("The draft scheme is saved."))
                for message in general:
                    messages.warning(request, message)
                return redirect("randomisation:overview", trial.code)
    elif current is not None:
        general = _problem_list(current)
    context = {
        "trial": trial,
        "scheme": current,
        "form": form,
        "general": general,
        "can_lock": current is not None,
    }
    return render(request, "randomisation/scheme.html", context)


def _locked_scheme_page(request: HttpRequest, trial: Trial, current: Scheme) -> HttpResponse:
    has_allocations = current.allocations.exists()
    if request.method == "POST" and request.POST.get("action") == "new-version":
        try:
            copy = services.new_scheme_version(current, actor=_actor(request))
        except TrialError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                _(
                    "Version %(version)s is a new draft, copied from version %(old)s, which "
                    "stays locked until the new one is locked."
                )
                % {"version": copy.version, "old": current.version},
            )
        return redirect("randomisation:scheme", trial.code)
    context = {
        "trial": trial,
        "scheme": current,
        "facts": consort.scheme_facts(current),
        "can_copy": not has_allocations,
    }
    return render(request, "randomisation/scheme_locked.html", context)


# --- locking and the commitment ------------------------------------------------------------


@trial_view(Perm.CONFIGURE_RANDOMISATION)
@require_http_methods(FORM_METHODS)
def lock(request: HttpRequest, trial: Trial) -> HttpResponse:
    current = services.current_scheme(trial)
    if current is None:
        messages.error(request, _("There is no scheme to lock yet."))
        return redirect("randomisation:scheme", trial.code)
    if current.is_locked:
        messages.info(request, _("This scheme is already locked."))
        return redirect("randomisation:commitment", trial.code)
    error = ""
    if request.method == "POST":
        try:
            services.lock_scheme(current, actor=_actor(request))
        except TrialError as refusal:
            error = refusal.message
        else:
            messages.success(
                request,
                _("Version %(version)s is locked. Publish the commitment hash below.")
                % {"version": current.version},
            )
            return redirect("randomisation:commitment", trial.code)
    context = {
        "trial": trial,
        "scheme": current,
        "facts": consort.scheme_facts(current),
        "problems": _problem_list(current),
        "error": error,
    }
    return render(request, "randomisation/lock.html", context)


@trial_view(Perm.VIEW_TRIAL)
@require_GET
def commitment(request: HttpRequest, trial: Trial) -> HttpResponse:
    locked = list(
        trial.schemes.filter(status=Scheme.Status.LOCKED)
        .select_related("locked_by")
        .order_by("-version")
    )
    scheme = locked[0] if locked else None
    context = {
        "trial": trial,
        "scheme": scheme,
        "facts": consort.scheme_facts(scheme) if scheme else [],
        "earlier": locked[1:],
        "locked_by": _user_name(scheme.locked_by) if scheme and scheme.locked_by else "",
        "system": consort.system_name(),
    }
    return render(request, "randomisation/commitment.html", context)


def _user_name(user: Any) -> str:
    return user.get_full_name() or user.get_username()


# --- the allocation log and its verification -----------------------------------------------


@trial_view(Perm.VIEW_TRIAL)
@require_GET
def log(request: HttpRequest, trial: Trial) -> HttpResponse:
    if not _may_see_log(request, trial):
        raise PermissionDenied
    show_names = permissions.sees_arm_names(request.user, trial)
    sites = permissions.visible_sites(request.user, trial).order_by("code")
    queryset = (
        Allocation.objects.filter(trial=trial)
        .select_related("participant__site", "site", "arm", "scheme")
        .prefetch_related("flags")
        .annotate(n_unblindings=Count("unblindings"))
        .order_by("-sequence")
    )
    if permissions.site_ids(request.user, trial) is not None:
        queryset = queryset.filter(Q(participant__site__in=sites) | Q(site__in=sites))
    site = request.GET.get("site", "")
    if site:
        queryset = queryset.filter(Q(participant__site__code=site) | Q(site__code=site))
    source = request.GET.get("source", "")
    if source in Allocation.Source.values:
        queryset = queryset.filter(source=source)
    else:
        source = ""
    page = Paginator(queryset, LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    can_see_participants = _can(request, trial, Perm.VIEW_PARTICIPANTS)
    rows = [_log_row(a, show_names, can_see_participants) for a in page.object_list]
    context = {
        "trial": trial,
        "page": page,
        "rows": rows,
        "sites": sites,
        "site": site,
        "sources": Allocation.Source.choices,
        "source": source,
        "can_export": _can(request, trial, Perm.VIEW_SEALED_LIST),
    }
    return render(request, "randomisation/log.html", context)


def _log_row(allocation: Allocation, show_names: bool, link: bool) -> dict[str, Any]:
    participant = allocation.participant
    in_error = [f for f in allocation.flags.all() if f.kind == f.Kind.IN_ERROR]
    return {
        "sequence": allocation.sequence,
        "created_at": allocation.created_at,
        "allocated_on": allocation.allocated_on,
        "unit": participant.study_id if participant else allocation.site.code,  # type: ignore[union-attr]  # a site's allocation
        "unit_url": participant.get_absolute_url() if participant and link else "",
        "is_site": participant is None,
        "site": participant.site.code if participant else allocation.site.code,  # type: ignore[union-attr]  # a site's allocation
        "stratum": allocation.stratum,
        "arm": arm_label(allocation.arm, show_names),
        "source": allocation.get_source_display(),
        "by": allocation.allocated_by_name,
        "reference": allocation.reference,
        "reason": allocation.reason,
        "in_error": in_error[0].reason if in_error else "",
        "unblindings": allocation.n_unblindings,  # type: ignore[attr-defined]  # annotated by the query
        "hash": allocation.hash[:12],
        "version": allocation.scheme.version if allocation.scheme else None,
    }


@trial_view(Perm.VIEW_TRIAL)
@require_http_methods(FORM_METHODS)
def verify(request: HttpRequest, trial: Trial) -> HttpResponse:
    if not _may_see_log(request, trial):
        raise PermissionDenied
    result = services.verify(trial) if request.method == "POST" else None
    checkpoint = result.checkpoint if result else chain.latest_checkpoint(trial.code)
    context = {"trial": trial, "result": result, "checkpoint": checkpoint}
    return render(request, "randomisation/verify.html", context)


# --- sealed lists and exports (unblinded statistician) -------------------------------------


@trial_view(Perm.VIEW_SEALED_LIST)
@require_GET
def sealed_list(request: HttpRequest, trial: Trial) -> HttpResponse:
    slots = (
        BlockSlot.objects.filter(scheme__trial=trial)
        .select_related("arm", "scheme")
        .order_by("-scheme__version", "stratum", "position")
    )
    lists = [
        {"version": version, "stratum": stratum, "slots": list(group)}
        for (version, stratum), group in itertools.groupby(
            slots, key=lambda slot: (slot.scheme.version, slot.stratum)
        )
    ]
    for entry in lists:
        entry["used"] = sum(slot.used for slot in entry["slots"])
        entry["rows"] = [
            {
                "position": slot.position,
                "block": slot.block_number,
                "size": slot.block_size,
                "arm": arm_label(slot.arm, True),
                "used": slot.used,
            }
            for slot in entry["slots"]
        ]
    scheme = services.locked_scheme(trial)
    audit.record(
        "sealed_list.viewed",
        scheme or trial,
        actor=_actor(request),
        trial=trial,
        data={"strata": len(lists)},
    )
    context = {"trial": trial, "scheme": scheme, "lists": lists}
    return render(request, "randomisation/sealed_list.html", context)


class _Echo:
    """A file-like object whose write returns the line, for streaming a CSV."""

    def write(self, value: str) -> str:
        return value


EXPORTS = {"allocations", "log", "sealed-list"}


@trial_view(Perm.VIEW_SEALED_LIST)
@require_GET
def export(request: HttpRequest, trial: Trial, kind: str) -> StreamingHttpResponse:
    """The allocations, the full hash chain, or the sealed lists as CSV. Study ids and site
    codes only, never personal numbers. Every download is in the audit trail."""
    if kind not in EXPORTS:
        raise Http404
    if kind == "sealed-list":
        queryset: Any = BlockSlot.objects.filter(scheme__trial=trial)
    else:
        queryset = Allocation.objects.filter(trial=trial)
    audit.record(
        "allocations.exported",
        trial,
        actor=_actor(request),
        trial=trial,
        data={"kind": kind, "rows": queryset.count()},
    )
    rows = {"allocations": _allocation_rows, "log": _chain_rows, "sealed-list": _slot_rows}[kind]
    writer = csv.writer(_Echo())
    lines = (writer.writerow([spreadsheet_cell(v) for v in row]) for row in rows(trial))
    filename = f"{trial.code}-{kind}-{timezone.localdate().isoformat()}.csv"
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _allocations(trial: Trial) -> Any:
    return (
        Allocation.objects.filter(trial=trial)
        .select_related("participant__site", "site", "arm", "scheme")
        .prefetch_related("flags", "unblindings")
        .order_by("sequence")
    )


def _unit(allocation: Allocation) -> tuple[str, str, str]:
    """(unit type, study id or site code, site code)."""
    if allocation.participant is not None:
        p = allocation.participant
        return "participant", p.study_id, p.site.code
    site = allocation.site.code  # type: ignore[union-attr]  # a site's allocation
    return "site", site, site


def _allocation_rows(trial: Trial) -> Iterator[list[Any]]:
    yield [
        "sequence", "unit_type", "unit", "site", "stratum", "arm_code", "arm_name",
        "randomised_on", "source", "reference", "reason", "in_error", "scheme_version", "hash",
    ]  # fmt: skip
    for allocation in _allocations(trial).iterator(chunk_size=1000):
        unit_type, unit, site = _unit(allocation)
        in_error = any(f.kind == f.Kind.IN_ERROR for f in allocation.flags.all())
        yield [
            allocation.sequence, unit_type, unit, site, allocation.stratum,
            allocation.arm.code, allocation.arm.name, allocation.allocated_on.isoformat(),
            allocation.source, allocation.reference, allocation.reason, int(in_error),
            allocation.scheme.version if allocation.scheme else "", allocation.hash,
        ]  # fmt: skip


def _chain_rows(trial: Trial) -> Iterator[list[Any]]:
    yield [
        "sequence", "previous_hash", "hash", "created_at", "randomised_on", "by", "unit_type",
        "unit", "site", "stratum", "arm_code", "arm_name", "slot_position", "source",
        "reference", "reason", "scheme_version", "details", "flags", "unblindings",
    ]  # fmt: skip
    for allocation in _allocations(trial).iterator(chunk_size=1000):
        unit_type, unit, site = _unit(allocation)
        flags = [
            {"kind": f.kind, "reason": f.reason, "by": f.flagged_by_name,
             "at": f.created_at.isoformat()}
            for f in allocation.flags.all()
        ]  # fmt: skip
        unblindings = [
            {"reason": u.reason, "by": u.unblinded_by_name, "at": u.created_at.isoformat()}
            for u in allocation.unblindings.all()
        ]
        yield [
            allocation.sequence, allocation.previous_hash, allocation.hash,
            allocation.created_at.isoformat(), allocation.allocated_on.isoformat(),
            allocation.allocated_by_name, unit_type, unit, site, allocation.stratum,
            allocation.arm.code, allocation.arm.name, allocation.slot_position or "",
            allocation.source, allocation.reference, allocation.reason,
            allocation.scheme.version if allocation.scheme else "",
            _json(allocation.details), _json(flags), _json(unblindings),
        ]  # fmt: skip


def _slot_rows(trial: Trial) -> Iterator[list[Any]]:
    yield [
        "scheme_version", "stratum", "position", "block_number", "block_size", "arm_code",
        "arm_name", "used",
    ]  # fmt: skip
    slots = (
        BlockSlot.objects.filter(scheme__trial=trial)
        .select_related("arm", "scheme")
        .order_by("scheme__version", "stratum", "position")
    )
    for slot in slots.iterator(chunk_size=2000):
        yield [
            slot.scheme.version, slot.stratum, slot.position, slot.block_number,
            slot.block_size, slot.arm.code, slot.arm.name, int(slot.used),
        ]  # fmt: skip


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


# --- simulation ----------------------------------------------------------------------------


@trial_view(Perm.CONFIGURE_RANDOMISATION)
@require_http_methods(FORM_METHODS)
def simulations(request: HttpRequest, trial: Trial) -> HttpResponse:
    current = services.current_scheme(trial)
    runs = (
        SimulationRun.objects.filter(scheme__trial=trial)
        .select_related("scheme")
        .order_by("-created_at", "-pk")[:20]
    )
    context: dict[str, Any] = {"trial": trial, "scheme": current, "runs": runs, "form": None}
    if current is None or current.is_cluster:
        return render(request, "randomisation/simulations.html", context)
    problems = _problem_list(current)
    form = _simulation_form(request, current)
    if request.method == "POST" and not problems and form.is_valid():
        data = form.cleaned_data
        try:
            run = simulation_jobs.request_simulation(
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
    return render(request, "randomisation/simulations.html", context)


def _simulation_form(request: HttpRequest, scheme: Scheme) -> SimulationForm:
    trial = scheme.trial
    levels = simulation_jobs.mix_levels(scheme)
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
    template = "randomisation/_simulation.html" if request.htmx else "randomisation/simulation.html"
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
