"""Pages where coordinators and data managers define a trial's instruments: the list, an
instrument's items and scales, the visits that ask it, and its versions.

Every change builds the instrument's next definition from the current one and goes through
``services.revise_instrument`` (or create, attach, remove), so the version rule applies: once
answers exist, a change is saved as a new version. A fault the definition check names
(``items[2].choices``) is shown next to that field, or next to that item's row. Access is
``Perm.DEFINE_INSTRUMENTS`` (through ``trial_view``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.db.models import Count, Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from instruments import builtin, library
from instruments.definition import DefinitionError, Text
from instruments.models import Assessment, Instrument, InstrumentVersion, VisitInstrument
from instruments.setup import forms as setup_forms
from instruments.setup import services
from instruments.setup.services import InstrumentError
from trial import permissions
from trial.models import Trial
from trial.permissions import Perm
from trial.views import trial_view

FORM_METHODS = ["GET", "POST"]
WHERE = re.compile(r"^(?P<part>items|scales|missing_codes)\[(?P<index>\d+)\](?:\.(?P<key>\w+))?$")


def _actor(request: HttpRequest) -> User:
    # Every view here requires a login, so the user is a real account.
    return cast(User, request.user)


def _data(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


def _instrument(trial: Trial, code: str) -> Instrument:
    return get_object_or_404(Instrument.objects.select_related("trial"), trial=trial, code=code)


def _edit_url(instrument: Instrument, section: str = "") -> str:
    url = reverse("instruments_setup:edit", args=[instrument.trial.code, instrument.code])
    return f"{url}#{section}" if section else url


def library_choices() -> list[tuple[str, str]]:
    """The validated scales of ``instruments.library``, by title in the page's language."""
    return [(key, str(scale.title)) for key, scale in library.LIBRARY.items()]


# Faults ---------------------------------------------------------------------------------------

FIELD_NAMES = {
    "name": lambda: _("variable name"),
    "label": lambda: _("label"),
    "type": lambda: _("type"),
    "choices": lambda: _("choices"),
    "min": lambda: _("minimum"),
    "max": lambda: _("maximum"),
    "decimals": lambda: _("decimals"),
    "pattern": lambda: _("format check"),
    "show_if": lambda: _("condition"),
    "items": lambda: _("items scored"),
    "reverse": lambda: _("reverse-coded items"),
    "max_missing": lambda: _("items that may be missing"),
    "code": lambda: _("code"),
}


def describe(where: str, definition: dict[str, Any]) -> str:
    """A fault's place for people: ``items[2].choices`` is "Item 3 (benefit_type), choices"."""
    match = WHERE.match(where)
    if match is None:
        return _("Items") if where == "items" else ""
    part, index, key = match["part"], int(match["index"]), match["key"]
    rows = definition.get(part, [])
    name = rows[index].get("name", "") if index < len(rows) else ""
    if part == "items":
        place = _("Item %(n)s (%(name)s)") % {"n": index + 1, "name": name}
    elif part == "scales":
        place = _("Scale %(name)s") % {"name": name}
    else:
        place = _("Missing-data code %(n)s") % {"n": index + 1}
    field = FIELD_NAMES.get(key or "")
    return f"{place}, {field()}" if field else place


def show_faults(
    form: forms.BaseForm,
    error: InstrumentError,
    definition: dict[str, Any],
    *,
    prefix: str = "",
    fields: dict[str, str] | None = None,
) -> None:
    """Put each fault next to the form field it names (``prefix`` is the place of what the
    form edits, e.g. ``items[2]``); faults elsewhere in the definition go above the form,
    saying where they are."""
    if not error.errors:
        field = error.field if error.field in form.fields else None
        form.add_error(field, error.message)
        return
    fields = fields or {}
    for where, message in error.errors:
        if prefix and where.startswith(f"{prefix}."):
            key = where[len(prefix) + 1 :]
            if key in fields:
                form.add_error(fields[key], message)
                continue
        if prefix == "missing_codes" and where.startswith("missing_codes"):
            form.add_error("missing_codes", message)
            continue
        place = describe(where, definition)
        form.add_error(None, f"{place}: {message}" if place else message)


def faults_by_row(
    error: InstrumentError, definition: dict[str, Any], order: Sequence[int] | None = None
) -> dict[str, Any]:
    """The faults of a refused change to the whole list (a move, a removal), by the row of
    the current definition they belong to: ``order[p]`` is the current row of the changed
    definition's item ``p``."""
    items: dict[int, list[str]] = {}
    scales: dict[int, list[str]] = {}
    general: list[str] = []
    if not error.errors:
        general.append(error.message)
    for where, message in error.errors:
        match = WHERE.match(where)
        if match is not None and match["part"] == "items":
            position = int(match["index"])
            row = order[position] if order is not None and position < len(order) else position
            field = FIELD_NAMES.get(match["key"] or "")
            items.setdefault(row, []).append(
                f"{capfirst(field())}: {message}" if field else message
            )
        elif match is not None and match["part"] == "scales":
            scales.setdefault(int(match["index"]), []).append(message)
        else:
            place = describe(where, definition)
            general.append(f"{place}: {message}" if place else message)
    return {"items": items, "scales": scales, "general": general}


def _revise(
    request: HttpRequest,
    instrument: Instrument,
    definition: dict[str, Any],
    *,
    note: str = "",
    name_en: str | None = None,
    name_nb: str | None = None,
) -> InstrumentVersion:
    """Save the next definition (InstrumentError if refused) and say which version it is."""
    before = instrument.current_version()
    after = services.revise_instrument(
        instrument,
        definition=definition,
        actor=_actor(request),
        note=note,
        name_en=name_en,
        name_nb=name_nb,
    )
    if after.number != before.number:
        message = _(
            "Answers exist for version %(old)s: your change was saved as version %(new)s."
        ) % {"old": before.number, "new": after.number}
    else:
        message = _("Saved in version %(n)s.") % {"n": after.number}
    messages.success(request, message)
    return after


def _current(instrument: Instrument) -> tuple[InstrumentVersion, dict[str, Any]]:
    """The current version and a copy of its definition to change."""
    version = instrument.current_version()
    return version, copy.deepcopy(version.definition)


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
    instruments = list(
        Instrument.objects.filter(trial=trial)
        .annotate(n_answers=Count("assessments", distinct=True))
        .prefetch_related(
            Prefetch("versions", queryset=InstrumentVersion.objects.order_by("number")),
            Prefetch(
                "visit_links",
                queryset=VisitInstrument.objects.select_related("visit_definition").order_by(
                    "visit_definition__offset_months"
                ),
            ),
        )
        .order_by("order", "code")
    )
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
                "n_answers": instrument.n_answers,
            }
        )
    context = {
        "trial": trial,
        "rows": rows,
        "builtin_absent": not any(i.builtin == builtin.EMPLOYMENT for i in instruments),
        "builtin_name": _builtin_name(),
        # The import needs CONFIGURE_TRIAL (a data manager defines instruments but may not).
        "dictionary_url": dictionary_url(trial)
        if permissions.has_perm(request.user, trial, Perm.CONFIGURE_TRIAL)
        else "",
    }
    return render(request, "instruments/setup/list.html", context)


def _builtin_name() -> str:
    spec = builtin.BUILTIN[builtin.EMPLOYMENT]
    return Text(str(spec["name_en"]), str(spec["name_nb"])).get()


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_POST
def add_builtin(request: HttpRequest, trial: Trial) -> HttpResponse:
    try:
        instrument = services.default_instrument(trial, actor=_actor(request))
    except InstrumentError as error:
        messages.error(request, error.message)
        return redirect("instruments_setup:list", trial.code)
    messages.success(
        request, _("%(name)s is one of the trial's instruments.") % {"name": instrument}
    )
    return redirect(_edit_url(instrument))


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def new_instrument(request: HttpRequest, trial: Trial) -> HttpResponse:
    form = setup_forms.NewInstrumentForm(_data(request))
    item_form = setup_forms.NewInstrumentItemForm(_data(request), prefix="item")
    if request.method == "POST" and form.is_valid() & item_form.is_valid():
        definition = {"items": [item_form.item_json()]}
        try:
            instrument = services.create_instrument(
                trial,
                code=form.cleaned_data["code"],
                name_en=form.cleaned_data["name_en"],
                name_nb=form.cleaned_data["name_nb"],
                definition=definition,
                actor=_actor(request),
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
            return redirect(_edit_url(instrument))
    context = {"trial": trial, "form": form, "item_form": item_form}
    return render(request, "instruments/setup/new.html", context)


# One instrument ---------------------------------------------------------------------------------


def _edit_page(
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
    return _edit_page(request, trial, _instrument(trial, instrument))


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_POST
def edit_settings(request: HttpRequest, trial: Trial, instrument: str) -> HttpResponse:
    found = _instrument(trial, instrument)
    form = setup_forms.SettingsForm(request.POST)
    if form.is_valid():
        _version, definition = _current(found)
        definition["missing_codes"] = form.cleaned_data["missing_codes"]
        try:
            _revise(
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
            return redirect(_edit_url(found, "settings"))
    return _edit_page(request, trial, found, settings_form=form)


def _item_page(
    request: HttpRequest,
    trial: Trial,
    instrument: Instrument,
    number: int | None,
) -> HttpResponse:
    """Add an item (``number`` None: at the end) or edit item ``number`` (1-based)."""
    version, definition = _current(instrument)
    items: list[dict[str, Any]] = definition.setdefault("items", [])
    if number is not None and not 1 <= number <= len(items):
        raise Http404
    index = len(items) if number is None else number - 1
    base = items[index] if number is not None else None
    initial = setup_forms.ItemForm.initial_for(base) if base is not None else {}
    form = setup_forms.ItemEditForm(_data(request), initial=initial)
    if request.method == "POST" and form.is_valid():
        item = form.item_json(base)
        if number is None:
            items.append(item)
        else:
            items[index] = item
        try:
            _revise(request, instrument, definition, note=form.cleaned_data["change_note"])
        except InstrumentError as error:
            show_faults(
                form, error, definition, prefix=f"items[{index}]", fields=setup_forms.ITEM_FIELDS
            )
        else:
            return redirect(_edit_url(instrument, "items"))
    context = {
        "trial": trial,
        "instrument": instrument,
        "version": version,
        "answered": Assessment.objects.filter(version=version).exists(),
        "form": form,
        "number": number,
        "back": _edit_url(instrument, "items"),
    }
    return render(request, "instruments/setup/item.html", context)


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def add_item(request: HttpRequest, trial: Trial, instrument: str) -> HttpResponse:
    return _item_page(request, trial, _instrument(trial, instrument), None)


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def edit_item(request: HttpRequest, trial: Trial, instrument: str, number: int) -> HttpResponse:
    return _item_page(request, trial, _instrument(trial, instrument), number)


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_POST
def move_item(request: HttpRequest, trial: Trial, instrument: str, number: int) -> HttpResponse:
    """Move item ``number`` one place up or down (``direction``)."""
    found = _instrument(trial, instrument)
    _version, definition = _current(found)
    items: list[dict[str, Any]] = definition.get("items", [])
    if not 1 <= number <= len(items):
        raise Http404
    index = number - 1
    other = index - 1 if request.POST.get("direction") == "up" else index + 1
    if not 0 <= other < len(items):
        return redirect(_edit_url(found, "items"))
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
        _revise(request, instrument, definition)
    except InstrumentError as error:
        faults = faults_by_row(error, definition, order)
        return _edit_page(request, trial, instrument, faults=faults)
    return redirect(_edit_url(instrument, section))


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
    version, definition = _current(instrument)
    errors: list[str] = []
    if request.method == "POST":
        change(definition)
        try:
            _revise(request, instrument, definition)
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


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def remove_item(request: HttpRequest, trial: Trial, instrument: str, number: int) -> HttpResponse:
    found = _instrument(trial, instrument)
    items = found.current_version().definition.get("items", [])
    if not 1 <= number <= len(items):
        raise Http404
    name = items[number - 1]["name"]

    def change(definition: dict[str, Any]) -> None:
        del definition["items"][number - 1]

    return _remove_page(
        request,
        trial,
        found,
        title=_("Remove item %(n)s (%(name)s)?") % {"n": number, "name": name},
        what=name,
        change=change,
        back=_edit_url(found, "items"),
    )


def _scale_page(
    request: HttpRequest, trial: Trial, instrument: Instrument, number: int | None
) -> HttpResponse:
    version, definition = _current(instrument)
    scales: list[dict[str, Any]] = definition.setdefault("scales", [])
    if number is not None and not 1 <= number <= len(scales):
        raise Http404
    index = len(scales) if number is None else number - 1
    base = scales[index] if number is not None else None
    item_names = [(item.name, f"{item.name} – {item.label.get()}") for item in version.parsed.items]
    initial = setup_forms.ScaleForm.initial_for(base) if base is not None else {}
    form = setup_forms.ScaleForm(_data(request), initial=initial, item_names=item_names)
    if request.method == "POST" and form.is_valid():
        scale = form.scale_json(base)
        if number is None:
            scales.append(scale)
        else:
            scales[index] = scale
        try:
            _revise(request, instrument, definition, note=form.cleaned_data["change_note"])
        except InstrumentError as error:
            show_faults(
                form, error, definition, prefix=f"scales[{index}]", fields=setup_forms.SCALE_FIELDS
            )
        else:
            return redirect(_edit_url(instrument, "scales"))
    context = {
        "trial": trial,
        "instrument": instrument,
        "version": version,
        "answered": Assessment.objects.filter(version=version).exists(),
        "form": form,
        "number": number,
        "back": _edit_url(instrument, "scales"),
    }
    return render(request, "instruments/setup/scale.html", context)


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def add_scale(request: HttpRequest, trial: Trial, instrument: str) -> HttpResponse:
    return _scale_page(request, trial, _instrument(trial, instrument), None)


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def edit_scale(request: HttpRequest, trial: Trial, instrument: str, number: int) -> HttpResponse:
    return _scale_page(request, trial, _instrument(trial, instrument), number)


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def remove_scale(request: HttpRequest, trial: Trial, instrument: str, number: int) -> HttpResponse:
    found = _instrument(trial, instrument)
    scales = found.current_version().definition.get("scales", [])
    if not 1 <= number <= len(scales):
        raise Http404
    name = scales[number - 1]["name"]

    def change(definition: dict[str, Any]) -> None:
        del definition["scales"][number - 1]

    return _remove_page(
        request,
        trial,
        found,
        title=_("Remove the scale %(name)s?") % {"name": name},
        what=name,
        change=change,
        back=_edit_url(found, "scales"),
    )


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_POST
def add_library_scale(request: HttpRequest, trial: Trial, instrument: str) -> HttpResponse:
    """Add a validated scale's items and scoring from ``instruments.library``."""
    found = _instrument(trial, instrument)
    form = setup_forms.LibraryScaleForm(request.POST, scales=library_choices())
    if form.is_valid():
        _version, definition = _current(found)
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
                _revise(request, found, definition)
            except InstrumentError as error:
                show_faults(form, error, definition)
            else:
                return redirect(_edit_url(found, "scales"))
    return _edit_page(request, trial, found, library_form=form)


@trial_view(Perm.DEFINE_INSTRUMENTS)
@require_http_methods(FORM_METHODS)
def instrument_visits(request: HttpRequest, trial: Trial, instrument: str) -> HttpResponse:
    found = _instrument(trial, instrument)
    visits = trial.visit_definitions.order_by("offset_months")
    attached = list(
        VisitInstrument.objects.filter(instrument=found).values_list(
            "visit_definition_id", flat=True
        )
    )
    form = setup_forms.VisitsForm(_data(request), initial={"visits": attached}, visits=visits)
    if request.method == "POST" and form.is_valid():
        try:
            now = services.attach_instrument(
                found, form.cleaned_data["visits"], actor=_actor(request)
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
            return redirect(_edit_url(found, "visits"))
    context = {
        "trial": trial,
        "instrument": found,
        "form": form,
        "has_visits": visits.exists(),
        "back": _edit_url(found, "visits"),
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
        (_("Items"), items_before, items_after),
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
    found = _instrument(trial, instrument)
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
    found = _instrument(trial, instrument)
    back = reverse("instruments_setup:list", args=[trial.code])
    if request.method == "POST":
        try:
            services.remove_instrument(found, actor=_actor(request))
        except InstrumentError as error:
            messages.error(request, error.message)
            return redirect(_edit_url(found))
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
        "back": _edit_url(found),
    }
    return render(request, "instruments/setup/confirm_remove.html", context)
