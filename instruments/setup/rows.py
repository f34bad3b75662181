"""The rows of an instrument's definition: its items and scales, added, edited, moved and
removed, and scales taken from the library. Every change goes through ``common.revise``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from instruments import library
from instruments.definition import DefinitionError
from instruments.models import Assessment, Instrument, InstrumentVersion
from instruments.setup import forms as setup_forms
from instruments.setup.common import (
    FORM_METHODS,
    current,
    edit_url,
    faults_by_row,
    form_data,
    get_instrument,
    library_choices,
    revise,
    show_faults,
)
from instruments.setup.services import InstrumentError
from instruments.setup.views import edit_page
from trial.models import Trial
from trial.permissions import Perm
from trial.views import trial_view

RowForm = Callable[[Any, dict[str, Any] | None, InstrumentVersion], forms.Form]
RowJson = Callable[[Any, dict[str, Any] | None], dict[str, Any]]


def _row_page(
    request: HttpRequest,
    trial: Trial,
    instrument: Instrument,
    number: int | None,
    *,
    part: str,
) -> HttpResponse:
    """Add a row of ``part`` (items or scales; ``number`` None: at the end) or edit row
    ``number`` (1-based), through the same revision as every other change."""
    make_form, to_json, fields = ROWS[part]
    version, definition = current(instrument)
    rows: list[dict[str, Any]] = definition.setdefault(part, [])
    if number is not None and not 1 <= number <= len(rows):
        raise Http404
    index = len(rows) if number is None else number - 1
    base = rows[index] if number is not None else None
    form = make_form(form_data(request), base, version)
    if request.method == "POST" and form.is_valid():
        row = to_json(form, base)
        if number is None:
            rows.append(row)
        else:
            rows[index] = row
        try:
            revise(request, instrument, definition, note=form.cleaned_data["change_note"])
        except InstrumentError as error:
            show_faults(form, error, definition, prefix=f"{part}[{index}]", fields=fields)
        else:
            return redirect(edit_url(instrument, part))
    context = {
        "trial": trial,
        "instrument": instrument,
        "version": version,
        "answered": Assessment.objects.filter(version=version).exists(),
        "form": form,
        "number": number,
        "back": edit_url(instrument, part),
    }
    template = "item" if part == "items" else "scale"
    return render(request, f"instruments/setup/{template}.html", context)


def _item_form(data: Any, base: dict[str, Any] | None, _version: InstrumentVersion) -> forms.Form:
    initial = setup_forms.ItemForm.initial_for(base) if base is not None else {}
    return setup_forms.ItemEditForm(data, initial=initial)


def _scale_form(data: Any, base: dict[str, Any] | None, version: InstrumentVersion) -> forms.Form:
    item_names = [(item.name, f"{item.name} – {item.label.get()}") for item in version.parsed.items]
    initial = setup_forms.ScaleForm.initial_for(base) if base is not None else {}
    return setup_forms.ScaleForm(data, initial=initial, item_names=item_names)


ROWS: dict[str, tuple[RowForm, RowJson, dict[str, str]]] = {
    "items": (_item_form, lambda form, base: form.item_json(base), setup_forms.ITEM_FIELDS),
    "scales": (_scale_form, lambda form, base: form.scale_json(base), setup_forms.SCALE_FIELDS),
}
"""Each part's form, how the form makes the row's JSON, and where a fault of the row is shown."""


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def add_item(request: HttpRequest, trial: Trial, instrument: str) -> HttpResponse:
    return _row_page(request, trial, get_instrument(trial, instrument), None, part="items")


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def edit_item(request: HttpRequest, trial: Trial, instrument: str, number: int) -> HttpResponse:
    return _row_page(request, trial, get_instrument(trial, instrument), number, part="items")


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_POST
def move_item(request: HttpRequest, trial: Trial, instrument: str, number: int) -> HttpResponse:
    """Move item ``number`` one place up or down (``direction``)."""
    found = get_instrument(trial, instrument)
    _version, definition = current(found)
    items: list[dict[str, Any]] = definition.get("items", [])
    if not 1 <= number <= len(items):
        raise Http404
    index = number - 1
    other = index - 1 if request.POST.get("direction") == "up" else index + 1
    if not 0 <= other < len(items):
        return redirect(edit_url(found, "items"))
    order = list(range(len(items)))
    order[index], order[other] = order[other], order[index]
    definition["items"] = [items[i] for i in order]
    return _apply(request, trial, found, definition, order=order)


def _apply(
    request: HttpRequest,
    trial: Trial,
    instrument: Instrument,
    definition: dict[str, Any],
    *,
    order: Sequence[int] | None = None,
    section: str = "items",
) -> HttpResponse:
    """Save a change to the lists of the edit page; if refused, show the edit page with each
    fault next to its row."""
    try:
        revise(request, instrument, definition)
    except InstrumentError as error:
        faults = faults_by_row(error, definition, order)
        return edit_page(request, trial, instrument, faults=faults)
    return redirect(edit_url(instrument, section))


def _remove_page(
    request: HttpRequest,
    trial: Trial,
    instrument: Instrument,
    *,
    title: str,
    what: str,
    change: Callable[[dict[str, Any]], None],
    back: str,
) -> HttpResponse:
    """Ask (GET), then save the definition without the row (POST); a refusal (a scale or a
    condition uses the item) is shown on the page."""
    version, definition = current(instrument)
    errors: list[str] = []
    if request.method == "POST":
        change(definition)
        try:
            revise(request, instrument, definition)
        except InstrumentError as error:
            faults = faults_by_row(error, definition)
            errors = [
                *faults["general"],
                *(m for rows in faults["items"].values() for m in rows),
                *(m for rows in faults["scales"].values() for m in rows),
            ]
        else:
            return redirect(back)
    context = {
        "trial": trial,
        "instrument": instrument,
        "answered": Assessment.objects.filter(version=version).exists(),
        "version": version,
        "title": title,
        "message": _("“%(what)s” will be removed from the instrument.") % {"what": what},
        "errors": errors,
        "back": back,
    }
    return render(request, "instruments/setup/confirm_remove.html", context, status=200)


def _remove_row(
    request: HttpRequest, trial: Trial, instrument: str, number: int, part: str
) -> HttpResponse:
    """Confirm and remove row ``number`` (1-based) of ``part`` (items or scales)."""
    found = get_instrument(trial, instrument)
    rows = found.current_version().definition.get(part, [])
    if not 1 <= number <= len(rows):
        raise Http404
    name = rows[number - 1]["name"]

    def change(definition: dict[str, Any]) -> None:
        del definition[part][number - 1]

    if part == "items":
        title = _("Remove item %(n)s (%(name)s)?") % {"n": number, "name": name}
    else:
        title = _("Remove the scale %(name)s?") % {"name": name}
    return _remove_page(
        request, trial, found, title=title, what=name, change=change, back=edit_url(found, part)
    )


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def remove_item(request: HttpRequest, trial: Trial, instrument: str, number: int) -> HttpResponse:
    return _remove_row(request, trial, instrument, number, "items")


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def add_scale(request: HttpRequest, trial: Trial, instrument: str) -> HttpResponse:
    return _row_page(request, trial, get_instrument(trial, instrument), None, part="scales")


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def edit_scale(request: HttpRequest, trial: Trial, instrument: str, number: int) -> HttpResponse:
    return _row_page(request, trial, get_instrument(trial, instrument), number, part="scales")


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def remove_scale(request: HttpRequest, trial: Trial, instrument: str, number: int) -> HttpResponse:
    return _remove_row(request, trial, instrument, number, "scales")


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_POST
def add_library_scale(request: HttpRequest, trial: Trial, instrument: str) -> HttpResponse:
    """Add a validated scale's items and scoring from ``instruments.library``."""
    found = get_instrument(trial, instrument)
    form = setup_forms.LibraryScaleForm(request.POST, scales=library_choices())
    if form.is_valid():
        _version, definition = current(found)
        try:
            definition = library.add_to_definition(
                definition,
                form.cleaned_data["key"],
                prefix=form.cleaned_data["name_prefix"] or None,
            )
        except DefinitionError as error:
            for where, message in error.errors:
                form.add_error("name_prefix" if where == "prefix" else None, message)
        else:
            try:
                revise(request, found, definition)
            except InstrumentError as error:
                show_faults(form, error, definition)
            else:
                return redirect(edit_url(found, "scales"))
    return edit_page(request, trial, found, library_form=form)
