"""Pages where coordinators and data managers define a trial's instruments: the list, an
instrument's items and scales, the visits that ask it, and its versions.

Every change builds the instrument's next definition from the current one and goes through
``services.revise_instrument`` (or create, attach, remove), so the version rule applies: once
answers exist, a change is saved as a new version. A fault the definition check names
(``items[2].choices``) is shown next to that field, or next to that item's row. Access is
``Perm.DEFINE_INSTRUMENTS`` (through ``trial_view``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from instruments import builtin
from instruments.definition import Text
from instruments.models import Assessment, Instrument, InstrumentVersion, VisitInstrument
from instruments.setup import forms as setup_forms
from instruments.setup import services
from instruments.setup.common import (
    FORM_METHODS,
    actor,
    current,
    edit_url,
    form_data,
    get_instrument,
    library_choices,
    revise,
    show_faults,
)
from instruments.setup.services import InstrumentError
from trial.models import Trial
from trial.permissions import Perm
from trial.views import trial_view

# The list -------------------------------------------------------------------------------------


def dictionary_url(trial: Trial) -> str:
    """The data dictionary import, where this installation has it."""
    try:
        return reverse("instruments_dictionary:import", args=[trial.code])
    except NoReverseMatch:
        return ""


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_GET
def instrument_list(request: HttpRequest, trial: Trial) -> HttpResponse:
    instruments = list(Instrument.objects.filter(trial=trial).for_listing())
    rows = []
    for instrument in instruments:
        versions = list(instrument.versions.all())
        current = versions[-1].parsed if versions else None
        rows.append(
            {
                "instrument": instrument,
                "version": versions[-1].number if versions else 0,
                "n_items": len(current.items) if current else 0,
                "n_scales": len(current.scales) if current else 0,
                "visits": [link.visit_definition for link in instrument.visit_links.all()],
                "n_answers": instrument.answer_count,  # type: ignore[attr-defined]  # annotated
            }
        )
    context = {
        "trial": trial,
        "rows": rows,
        "builtin_absent": not any(i.builtin == builtin.EMPLOYMENT for i in instruments),
        "builtin_name": _builtin_name(),
        # Importing a dictionary defines instruments: whoever sees this page may.
        "dictionary_url": dictionary_url(trial),
    }
    return render(request, "instruments/setup/list.html", context)


def _builtin_name() -> str:
    spec = builtin.BUILTIN[builtin.EMPLOYMENT]
    return Text(str(spec["name_en"]), str(spec["name_nb"])).get()


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_POST
def add_builtin(request: HttpRequest, trial: Trial) -> HttpResponse:
    try:
        instrument = services.default_instrument(trial, actor=actor(request))
    except InstrumentError as error:
        messages.error(request, error.message)
        return redirect("instruments_setup:list", trial.code)
    messages.success(
        request, _("%(name)s is one of the trial's instruments.") % {"name": instrument}
    )
    return redirect(edit_url(instrument))


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def new_instrument(request: HttpRequest, trial: Trial) -> HttpResponse:
    form = setup_forms.NewInstrumentForm(form_data(request))
    item_form = setup_forms.NewInstrumentItemForm(form_data(request), prefix="item")
    if request.method == "POST" and form.is_valid() & item_form.is_valid():
        definition = {"items": [item_form.item_json()]}
        try:
            instrument = services.create_instrument(
                trial,
                code=form.cleaned_data["code"],
                name_en=form.cleaned_data["name_en"],
                name_nb=form.cleaned_data["name_nb"],
                definition=definition,
                actor=actor(request),
            )
        except InstrumentError as error:
            if error.errors:
                show_faults(
                    item_form,
                    error,
                    definition,
                    prefix="items[0]",
                    fields=setup_forms.ITEM_FIELDS,
                )
            else:
                show_faults(form, error, definition)
        else:
            messages.success(
                request,
                _("Instrument created (version 1). Add its other items and scales next."),
            )
            return redirect(edit_url(instrument))
    context = {"trial": trial, "form": form, "item_form": item_form}
    return render(request, "instruments/setup/new.html", context)


# One instrument ---------------------------------------------------------------------------------


def edit_page(
    request: HttpRequest,
    trial: Trial,
    instrument: Instrument,
    *,
    settings_form: setup_forms.SettingsForm | None = None,
    faults: dict[str, Any] | None = None,
    library_form: setup_forms.LibraryScaleForm | None = None,
) -> HttpResponse:
    version = instrument.current_version()
    parsed = version.parsed
    faults = faults or {"items": {}, "scales": {}, "general": []}
    items = [
        {
            "number": index + 1,
            "item": item,
            "type": setup_forms.item_type_label(item.type),
            "faults": faults["items"].get(index, []),
        }
        for index, item in enumerate(parsed.items)
    ]
    scales = [
        {"number": index + 1, "scale": scale, "faults": faults["scales"].get(index, [])}
        for index, scale in enumerate(parsed.scales)
    ]
    if library_form is None:
        library_form = setup_forms.LibraryScaleForm(scales=library_choices())
    context = {
        "trial": trial,
        "instrument": instrument,
        "version": version,
        "answered": Assessment.objects.filter(version=version).exists(),
        "has_answers": Assessment.objects.filter(instrument=instrument).exists(),
        "items": items,
        "scales": scales,
        "missing_codes": parsed.missing_codes,
        "visits": [
            link.visit_definition
            for link in instrument.visit_links.select_related("visit_definition").order_by(
                "visit_definition__offset_months"
            )
        ],
        "settings_form": settings_form
        or setup_forms.SettingsForm(
            initial=setup_forms.SettingsForm.initial_for(instrument, version.definition)
        ),
        "library_form": library_form,
        "faults": faults["general"],
        "has_faults": any(faults[part] for part in ("items", "scales", "general"))
        or bool(settings_form and settings_form.errors)
        or bool(library_form and library_form.errors),
    }
    return render(request, "instruments/setup/edit.html", context)


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_GET
def edit_instrument(request: HttpRequest, trial: Trial, instrument: str) -> HttpResponse:
    return edit_page(request, trial, get_instrument(trial, instrument))


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_POST
def edit_settings(request: HttpRequest, trial: Trial, instrument: str) -> HttpResponse:
    found = get_instrument(trial, instrument)
    form = setup_forms.SettingsForm(request.POST)
    if form.is_valid():
        _version, definition = current(found)
        definition["missing_codes"] = form.cleaned_data["missing_codes"]
        try:
            revise(
                request,
                found,
                definition,
                note=form.cleaned_data["note"],
                name_en=form.cleaned_data["name_en"],
                name_nb=form.cleaned_data["name_nb"],
            )
        except InstrumentError as error:
            show_faults(form, error, definition, prefix="missing_codes")
        else:
            return redirect(edit_url(found, "settings"))
    return edit_page(request, trial, found, settings_form=form)


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def instrument_visits(request: HttpRequest, trial: Trial, instrument: str) -> HttpResponse:
    found = get_instrument(trial, instrument)
    visits = trial.visit_definitions.order_by("offset_months")
    links = VisitInstrument.objects.filter(instrument=found)
    attached = [link.visit_definition_id for link in links]
    by_participant = [link.visit_definition_id for link in links if link.self_completed]
    form = setup_forms.VisitsForm(
        form_data(request),
        initial={"visits": attached, "self_completed": by_participant},
        visits=visits,
    )
    if request.method == "POST" and form.is_valid():
        try:
            now = services.attach_instrument(
                found,
                form.cleaned_data["visits"],
                actor=actor(request),
                self_completed=form.cleaned_data["self_completed"],
            )
        except InstrumentError as error:
            form.add_error("visits", error.message)
        else:
            if now:
                message = _("%(name)s is asked at: %(visits)s.") % {
                    "name": found,
                    "visits": ", ".join(setup_forms.visit_label(v) for v in now),
                }
            else:
                message = _("%(name)s is asked at no visit.") % {"name": found}
            messages.success(request, message)
            return redirect(edit_url(found, "visits"))
    context = {
        "trial": trial,
        "instrument": found,
        "form": form,
        "has_visits": visits.exists(),
        "back": edit_url(found, "visits"),
    }
    return render(request, "instruments/setup/visits.html", context)


def diff_summary(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """What changed from one version's definition to the next, in sentences."""
    items_after = {i["name"]: i for i in after.get("items", [])}
    scales_after = {s["name"]: s for s in after.get("scales", [])}
    if before is None:
        return [
            _("First version: %(items)s items, %(scales)s scales.")
            % {"items": len(items_after), "scales": len(scales_after)}
        ]
    items_before = {i["name"]: i for i in before.get("items", [])}
    scales_before = {s["name"]: s for s in before.get("scales", [])}
    lines: list[str] = []

    def names(rows: list[str]) -> str:
        return ", ".join(rows)

    for label, old, new in (
        (pgettext("questionnaire", "Items"), items_before, items_after),
        (_("Scales"), scales_before, scales_after),
    ):
        added = [n for n in new if n not in old]
        removed = [n for n in old if n not in new]
        changed = [n for n in new if n in old and new[n] != old[n]]
        if added:
            lines.append(_("%(what)s added: %(names)s") % {"what": label, "names": names(added)})
        if removed:
            lines.append(
                _("%(what)s removed: %(names)s") % {"what": label, "names": names(removed)}
            )
        if changed:
            lines.append(
                _("%(what)s changed: %(names)s") % {"what": label, "names": names(changed)}
            )
    kept_before = [n for n in items_before if n in items_after]
    kept_after = [n for n in items_after if n in items_before]
    if kept_before != kept_after:
        lines.append(_("The order of the items changed."))
    if before.get("missing_codes", []) != after.get("missing_codes", []):
        lines.append(_("The missing-data codes changed."))
    return lines or [_("No change to the items.")]


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_GET
def instrument_versions(request: HttpRequest, trial: Trial, instrument: str) -> HttpResponse:
    found = get_instrument(trial, instrument)
    versions: QuerySet[InstrumentVersion] = (
        found.versions.select_related("created_by")
        .annotate(n_answers=Count("assessments"))
        .order_by("number")
    )
    rows = []
    previous: dict[str, Any] | None = None
    for version in versions:
        rows.append({"version": version, "changes": diff_summary(previous, version.definition)})
        previous = version.definition
    rows.reverse()
    context = {"trial": trial, "instrument": found, "rows": rows}
    return render(request, "instruments/setup/versions.html", context)


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def remove_instrument(request: HttpRequest, trial: Trial, instrument: str) -> HttpResponse:
    found = get_instrument(trial, instrument)
    back = reverse("instruments_setup:list", args=[trial.code])
    if request.method == "POST":
        try:
            services.remove_instrument(found, actor=actor(request))
        except InstrumentError as error:
            messages.error(request, error.message)
            return redirect(edit_url(found))
        messages.success(request, _("Instrument removed."))
        return redirect(back)
    context = {
        "trial": trial,
        "instrument": found,
        "title": _("Remove the instrument %(name)s?") % {"name": found},
        "message": _(
            "The instrument, its versions and the visits it is attached to will be removed. "
            "The audit trail keeps a copy of what it was."
        ),
        "errors": [],
        "back": edit_url(found),
    }
    return render(request, "instruments/setup/confirm_remove.html", context)
