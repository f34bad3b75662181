"""What the instrument-defining pages share: the instrument of a URL, the revision every
change goes through, and faults put next to the field or row they name."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from instruments import library
from instruments.models import Instrument, InstrumentVersion
from instruments.setup import services
from instruments.setup.services import InstrumentError
from trial.models import Trial

FORM_METHODS = ["GET", "POST"]
WHERE = re.compile(r"^(?P<part>items|scales|missing_codes)\[(?P<index>\d+)\](?:\.(?P<key>\w+))?$")


def actor(request: HttpRequest) -> User:
    # Every view here requires a login, so the user is a real account.
    return cast(User, request.user)


def form_data(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


def get_instrument(trial: Trial, code: str) -> Instrument:
    return get_object_or_404(Instrument.objects.select_related("trial"), trial=trial, code=code)


def edit_url(instrument: Instrument, section: str = "") -> str:
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
        return pgettext("questionnaire", "Items") if where == "items" else ""
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


def revise(
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
        actor=actor(request),
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


def current(instrument: Instrument) -> tuple[InstrumentVersion, dict[str, Any]]:
    """The current version and a copy of its definition to change."""
    version = instrument.current_version()
    return version, copy.deepcopy(version.definition)
