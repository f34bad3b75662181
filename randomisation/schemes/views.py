"""Pages for a scheme: the draft and what stops it from being locked, locking and the
commitment, and the sealed lists.

Access is decided in trial.permissions (through ``trial_view``). The sealed lists, with arm
names, need ``VIEW_SEALED_LIST`` (the unblinded statistician).
"""

from __future__ import annotations

import itertools
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from randomisation.schemes import consort, services
from randomisation.schemes.forms import SchemeForm
from randomisation.schemes.models import BlockSlot, Scheme
from trial import audit
from trial.models import Arm, Trial
from trial.permissions import Perm
from trial.services import TrialError
from trial.views import trial_view

FORM_METHODS = ["GET", "POST"]


def _actor(request: HttpRequest) -> User:
    # Every view here requires a login, so the user is a real account.
    return cast(User, request.user)


def arm_label(arm: Arm, show_names: bool) -> str:
    """The arm's code and name for users who may know it, its code for everyone else."""
    return f"{arm.code} – {arm.name}" if show_names else arm.code


def problem_list(scheme: Scheme) -> list[str]:
    """What stops the scheme from being locked, each with the field it concerns."""
    form = SchemeForm(trial=scheme.trial)
    listed = []
    for field, message in services.scheme_problems(scheme).items():
        label = form.fields[field].label if field in form.fields else None
        if field == "minimisation_factors":
            label = _("Minimisation factors")
        listed.append(f"{label}: {message}" if label else message)
    return listed


# --- the scheme -----------------------------------------------------------------------------


@trial_view(Perm.CONFIGURE_RANDOMISATION)
@require_http_methods(FORM_METHODS)
def scheme(request: HttpRequest, trial: Trial) -> HttpResponse:
    current = Scheme.objects.current_for(trial)
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
        general = problem_list(current)
    context = {
        "trial": trial,
        "scheme": current,
        "form": form,
        "general": general,
        "can_lock": current is not None,
    }
    return render(request, "randomisation/schemes/scheme.html", context)


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
    return render(request, "randomisation/schemes/locked.html", context)


# --- locking and the commitment -------------------------------------------------------------


@trial_view(Perm.CONFIGURE_RANDOMISATION)
@require_http_methods(FORM_METHODS)
def lock(request: HttpRequest, trial: Trial) -> HttpResponse:
    current = Scheme.objects.current_for(trial)
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
        "problems": problem_list(current),
        "error": error,
    }
    return render(request, "randomisation/schemes/lock.html", context)


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
    return render(request, "randomisation/schemes/commitment.html", context)


def _user_name(user: Any) -> str:
    return user.get_full_name() or user.get_username()


# --- sealed lists (unblinded statistician) --------------------------------------------------


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
    scheme = Scheme.objects.locked_for(trial)
    audit.record(
        "sealed_list.viewed",
        scheme or trial,
        actor=_actor(request),
        trial=trial,
        data={"strata": len(lists)},
    )
    context = {"trial": trial, "scheme": scheme, "lists": lists}
    return render(request, "randomisation/schemes/sealed_list.html", context)
