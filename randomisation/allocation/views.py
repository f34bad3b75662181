"""Allocating in the browser: randomise a participant, enter a manual allocation, mark one
made in error, and unblind in an emergency (the rules live in ``services``); the allocation log,
its verification, and the exports of the log and the sealed lists as CSV.

Users without ``VIEW_ALLOCATION`` see arm codes only, never arm names; exports need
``VIEW_SEALED_LIST`` (the unblinded statistician).
"""

from __future__ import annotations

import csv
import json
import secrets
from collections.abc import Iterator
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from randomisation.allocation import chain, hooks, services, verification
from randomisation.allocation.forms import ManualAllocationForm, RandomiseForm, ReasonForm
from randomisation.allocation.models import Allocation
from randomisation.schemes.models import BlockSlot, Scheme
from randomisation.schemes.views import arm_label
from trial import audit, permissions
from trial.models import Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.services import TrialError
from trial.text import spreadsheet_cell
from trial.views import show_error, trial_view

FORM_METHODS = ["GET", "POST"]


@trial_view(Perm.RANDOMISE)
def randomise(request: AuthenticatedHttpRequest, trial: Trial, study_id: str) -> HttpResponse:
    participant = permissions.get_participant(request.user, trial, study_id, Perm.RANDOMISE)
    existing = Allocation.objects.filter(participant=participant).first()
    if existing is not None:
        return redirect(participant)
    form = RandomiseForm(request.POST or None, initial={"token": secrets.token_urlsafe(16)})
    problem = None
    scheme = Scheme.objects.locked_for(trial)
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
                    "arm": hooks.arm_label(request, outcome.allocation),
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
    return render(request, "randomisation/allocation/randomise.html", context)


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
    return render(request, "randomisation/allocation/manual.html", context)


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
            return render(request, "randomisation/allocation/unblinded.html", context)
    context = {"trial": trial, "participant": participant, "form": form}
    return render(request, "randomisation/allocation/unblind.html", context)


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
    return render(request, "randomisation/allocation/in_error.html", context)


# --- the allocation log and its verification ------------------------------------------------


LOG_PAGE_SIZE = 50


def _can(request: HttpRequest, trial: Trial, perm: Perm) -> bool:
    return permissions.has_perm(request.user, trial, perm)


def _actor(request: HttpRequest) -> User:
    # Every view here requires a login, so the user is a real account.
    return cast(User, request.user)


def may_see_log(request: HttpRequest, trial: Trial) -> bool:
    return any(
        _can(request, trial, perm)
        for perm in (Perm.VIEW_AUDIT, Perm.RANDOMISE, Perm.VIEW_SEALED_LIST)
    )


@trial_view(Perm.VIEW_TRIAL)
@require_GET
def log(request: HttpRequest, trial: Trial) -> HttpResponse:
    if not may_see_log(request, trial):
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
    return render(request, "randomisation/allocation/log.html", context)


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
    if not may_see_log(request, trial):
        raise PermissionDenied
    result = verification.verify(trial) if request.method == "POST" else None
    checkpoint = result.checkpoint if result else chain.latest_checkpoint(trial.code)
    context = {"trial": trial, "result": result, "checkpoint": checkpoint}
    return render(request, "randomisation/allocation/verify.html", context)


# --- exports (unblinded statistician) -------------------------------------------------------


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
