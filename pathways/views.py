"""Pathway pages: the trial's state distributions and index plots, register imports, the
data-quality flags and the state alphabet. The rules live in pathways.services,
pathways.checking and pathways.importing; access is decided in trial.permissions."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from pathways import charts, checking, importing, sequences, services
from pathways.forms import ConfirmForm, ReviewForm, SettingsForm, StateForm, UploadForm
from pathways.models import QualityFlag, Spell, SpellImport, SpellState
from pathways.services import PathwayError
from randomisation.models import Allocation
from trial import permissions
from trial.models import Participant, Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.views import form_saved, show_error, trial_view

INDEX_SAMPLE = 50


def _groups(
    request: HttpRequest, trial: Trial, table: sequences.SequenceTable
) -> list[tuple[str, np.ndarray]]:
    """Rows of the table the user may see, split by arm for users who may know the arms.

    Blinded users (without VIEW_ALLOCATION, e.g. a blinded statistician) see all participants
    together: a split by arm code would show outcomes by arm before the analysis plan is locked.
    """
    visible = set(
        Participant.objects.filter(trial=trial)
        .visible_to(request.user)
        .values_list("id", flat=True)
    )
    mask = np.isin(table.participant_ids, list(visible))
    if not permissions.has_perm(request.user, trial, Perm.VIEW_ALLOCATION):
        return [(_("All participants"), np.flatnonzero(mask))]
    arm_of = dict(
        Allocation.objects.filter(trial=trial, participant__isnull=False).values_list(
            "participant_id", "arm_id"
        )
    )
    arms = list(trial.arms.order_by("code"))
    arm_ids = np.array([arm_of.get(int(pid), 0) for pid in table.participant_ids])
    groups = [
        (f"{arm.code} – {arm.name}", np.flatnonzero(mask & (arm_ids == arm.pk))) for arm in arms
    ]
    return [group for group in groups if group[1].size]


@trial_view(Perm.VIEW_PARTICIPANTS)
@require_GET
def overview(request: HttpRequest, trial: Trial) -> HttpResponse:
    current = services.settings_for(trial)
    states = services.alphabet(trial)
    entries = charts.legend(states)
    table = services.sequence_table(trial)
    panels = []
    for name, rows in _groups(request, trial, table):
        values = table.values[rows]
        sample = sequences.index_sample(values, INDEX_SAMPLE, seed=trial.pk)
        panels.append(
            {
                "distribution": charts.distribution(name, values, entries),
                "index": charts.index_plot(values[sample], entries),
                "sampled": int(sample.size),
            }
        )
    context = {
        "trial": trial,
        "settings": current,
        "legend": entries,
        "panels": panels,
        "spell_count": Spell.objects.filter(trial=trial).count(),
        "can_import": permissions.has_perm(request.user, trial, Perm.IMPORT_DATA),
        "blinded": not permissions.has_perm(request.user, trial, Perm.VIEW_ALLOCATION),
        "open_flags": QualityFlag.objects.filter(trial=trial, reviewed_at__isnull=True).count(),
    }
    return render(request, "pathways/overview.html", context)


# --- imports -------------------------------------------------------------------------------


@trial_view(Perm.IMPORT_DATA)
def upload(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        spell_import = importing.create_import(
            trial,
            data=upload.read(),
            file_name=upload.name,
            default_source=form.cleaned_data["source"],
            actor=request.user,
        )
        importing.start_check(spell_import)
        return redirect("pathways:import_detail", trial.code, spell_import.pk)
    context = {
        "trial": trial,
        "form": form,
        "states": services.alphabet(trial),
        "recent": SpellImport.objects.filter(trial=trial)[:5],
    }
    return render(request, "pathways/import.html", context)


def _import_context(trial: Trial, spell_import: SpellImport) -> dict[str, Any]:
    errors = [
        {
            "line": e["line"] or "–",
            "column": e["column"] or "–",
            "message": checking.message(e["kind"], e["params"]),
        }
        for e in spell_import.errors
    ]
    shown = sum(spell_import.error_counts.values())
    return {
        "trial": trial,
        "spell_import": spell_import,
        "errors": errors,
        "hidden_errors": max(0, shown - len(errors)),
        "step": _(importing.STEPS[spell_import.step]) if spell_import.step else "",
        "confirm_form": ConfirmForm(),
        "unusable": spell_import.status == SpellImport.Status.CHECKED
        and spell_import.rows_valid == 0
        and bool(spell_import.errors),
    }


def _get_import(trial: Trial, import_id: int) -> SpellImport:
    return get_object_or_404(SpellImport.objects.select_related("trial"), pk=import_id, trial=trial)


@trial_view(Perm.IMPORT_DATA)
@require_GET
def import_detail(request: HttpRequest, trial: Trial, import_id: int) -> HttpResponse:
    spell_import = _get_import(trial, import_id)
    return render(request, "pathways/import_detail.html", _import_context(trial, spell_import))


@trial_view(Perm.IMPORT_DATA)
@require_GET
def import_status(request: HttpRequest, trial: Trial, import_id: int) -> HttpResponse:
    """The part of the import page that polls while a worker checks or imports."""
    spell_import = _get_import(trial, import_id)
    return render(request, "pathways/_import_status.html", _import_context(trial, spell_import))


@trial_view(Perm.IMPORT_DATA)
@require_POST
def import_confirm(request: AuthenticatedHttpRequest, trial: Trial, import_id: int) -> HttpResponse:
    spell_import = _get_import(trial, import_id)
    form = ConfirmForm(request.POST)
    form.is_valid()
    try:
        confirmed = importing.confirm_import(
            spell_import,
            skip_invalid=form.cleaned_data.get("skip_invalid", False),
            actor=request.user,
        )
    except PathwayError as error:
        show_error(form, error)
        context = _import_context(trial, spell_import)
        context["confirm_form"] = form
        return render(request, "pathways/import_detail.html", context, status=400)
    importing.start_apply(confirmed)
    confirmed.refresh_from_db()
    if confirmed.status == SpellImport.Status.DONE:
        messages.success(
            request,
            _("Imported: %(written)s spells new or changed, %(skipped)s rows skipped.")
            % {"written": confirmed.rows_written, "skipped": confirmed.rows_invalid},
        )
    return redirect("pathways:import_detail", trial.code, confirmed.pk)


@trial_view(Perm.IMPORT_DATA)
@require_POST
def import_cancel(request: AuthenticatedHttpRequest, trial: Trial, import_id: int) -> HttpResponse:
    spell_import = _get_import(trial, import_id)
    try:
        importing.cancel_import(spell_import, actor=request.user)
    except PathwayError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The file was not imported."))
    return redirect("pathways:import", trial.code)


@trial_view(Perm.IMPORT_DATA)
@require_GET
def history(request: HttpRequest, trial: Trial) -> HttpResponse:
    page = Paginator(SpellImport.objects.filter(trial=trial), 50).get_page(request.GET.get("page"))
    return render(request, "pathways/imports.html", {"trial": trial, "page": page})


# --- data-quality flags --------------------------------------------------------------------


@trial_view(Perm.IMPORT_DATA)
@require_GET
def flags(request: HttpRequest, trial: Trial) -> HttpResponse:
    queryset = QualityFlag.objects.filter(trial=trial).select_related(
        "participant", "spell__state", "other_spell__state", "reviewed_by"
    )
    show = request.GET.get("show", "open")
    if show != "all":
        queryset = queryset.filter(reviewed_at__isnull=True)
    page = Paginator(queryset.order_by("reviewed_at", "participant__study_id", "id"), 50).get_page(
        request.GET.get("page")
    )
    context = {"trial": trial, "page": page, "show": show, "form": ReviewForm()}
    return render(request, "pathways/flags.html", context)


@trial_view(Perm.IMPORT_DATA)
@require_POST
def flag_review(request: AuthenticatedHttpRequest, trial: Trial, flag_id: int) -> HttpResponse:
    flag = get_object_or_404(QualityFlag, pk=flag_id, trial=trial)
    form = ReviewForm(request.POST)
    if form.is_valid():
        services.review_flag(flag, note=form.cleaned_data["note"], actor=request.user)
        messages.success(request, _("The flag is marked as reviewed."))
    return redirect("pathways:flags", trial.code)


# --- the alphabet and the sequence settings -----------------------------------------------


def _alphabet_page(
    request: HttpRequest,
    trial: Trial,
    *,
    state_form: StateForm | None = None,
    settings_form: SettingsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    current = services.settings_for(trial)
    context = {
        "trial": trial,
        "states": services.alphabet(trial),
        "state_form": state_form or StateForm(initial={"colour": "#888888"}),
        "settings_form": settings_form or SettingsForm(instance=current),
        "gap_colour": services.GAP_COLOUR,
    }
    return render(request, "pathways/alphabet.html", context, status=status)


@trial_view(Perm.IMPORT_DATA)
def alphabet(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    if request.method != "POST":
        return _alphabet_page(request, trial)
    form = StateForm(request.POST)
    save = partial(services.save_state, trial)
    if form_saved(request, form, save, message=_("The state was added.")):
        return redirect("pathways:alphabet", trial.code)
    return _alphabet_page(request, trial, state_form=form, status=400)


@trial_view(Perm.IMPORT_DATA)
def state_edit(request: AuthenticatedHttpRequest, trial: Trial, state_id: int) -> HttpResponse:
    state = get_object_or_404(SpellState, pk=state_id, trial=trial)
    form = StateForm(request.POST or None, instance=state)
    save = partial(services.save_state, trial, state=state)
    if request.method == "POST" and form_saved(
        request, form, save, message=_("The state was saved.")
    ):
        return redirect("pathways:alphabet", trial.code)
    return render(
        request, "pathways/state_edit.html", {"trial": trial, "state": state, "form": form}
    )


@trial_view(Perm.IMPORT_DATA)
@require_POST
def state_delete(request: AuthenticatedHttpRequest, trial: Trial, state_id: int) -> HttpResponse:
    state = get_object_or_404(SpellState, pk=state_id, trial=trial)
    try:
        services.delete_state(state, actor=request.user)
    except PathwayError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The state was removed."))
    return redirect("pathways:alphabet", trial.code)


@trial_view(Perm.IMPORT_DATA)
@require_POST
def alphabet_standard(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    try:
        services.add_standard_alphabet(trial, actor=request.user)
    except PathwayError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The standard states were added."))
    return redirect("pathways:alphabet", trial.code)


@trial_view(Perm.IMPORT_DATA)
@require_POST
def sequence_settings(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    form = SettingsForm(request.POST, instance=services.settings_for(trial))
    update = partial(services.update_settings, trial)
    if form_saved(request, form, update, message=_("The sequence settings were saved.")):
        return redirect("pathways:alphabet", trial.code)
    return _alphabet_page(request, trial, settings_form=form, status=400)
