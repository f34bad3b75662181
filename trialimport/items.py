"""The answers in assessments.csv: one column per item of the trial's instruments.

A row names a participant and a visit; its other columns are the items of the instruments the
trial asks at that visit (``instruments.models.VisitInstrument``; a visit with none attached
asks the trial's default, the built-in "Employment and benefits"), named by their variable
names as in the data dictionary. A cell holds the answer (a choice by its code or by its label,
in English or bokmål), one of the instrument's missing-data codes (kept apart from a blank), or
nothing. Each instrument's answers are checked by ``instruments.definition.clean_answers``, the
check every data-entry path uses (types, ranges, codes, required items, branching); scores are
derived when the answers are recorded, never read from the file.

This module reads and checks; it writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.utils.translation import gettext as _

from instruments import builtin
from instruments.definition import (
    AnswerError,
    Answers,
    Definition,
    Item,
    ItemType,
    clean_answers,
)
from instruments.models import Instrument, InstrumentVersion, VisitInstrument
from trial.models import Trial
from trialimport.columns import Column, parse_text

# The built-in instrument's two items that the old file format let hold 0 next to "not in
# paid work" (docs/import-formats.md): read as empty, since the instrument does not ask them.
ZERO_WHEN_NOT_WORKING = ("hours_per_week", "monthly_earnings")


@dataclass(frozen=True)
class Form:
    """One instrument as the import reads it: its latest version's definition."""

    code: str
    definition: Definition
    instrument: Instrument | None = None
    """None for the built-in default instrument of a trial that does not have it yet: it is
    made when the first answers are recorded (``default_instrument``)."""
    version: InstrumentVersion | None = None
    builtin: str = ""

    @cached_property
    def choice_words(self) -> dict[str, frozenset[str]]:
        """Each choice item's codes and labels (both languages), case-folded."""
        return {
            item.name: frozenset(
                word.casefold()
                for choice in item.choices
                for word in (choice.code, choice.label.en, choice.label.nb)
                if word
            )
            for item in self.definition.items
            if item.type in {ItemType.CHOICE, ItemType.MULTI}
        }

    @cached_property
    def missing_words(self) -> dict[str, str]:
        """The missing-data codes by their code and labels (both languages), case-folded."""
        words: dict[str, str] = {}
        for missing in self.definition.missing_codes:
            for word in (missing.label.nb, missing.label.en, missing.code):
                if word:
                    words[word.casefold()] = missing.code
        return words


@dataclass
class Catalogue:
    """The trial's instruments, which visits ask which, and the item columns they give."""

    forms: dict[str, Form] = field(default_factory=dict)
    by_visit: dict[str, list[str]] = field(default_factory=dict)
    """Instrument codes asked at each visit code that has instruments attached."""
    default: str | None = None
    """The code of the instrument asked at a visit with none attached."""
    items: dict[str, tuple[str, Item]] = field(default_factory=dict)
    """Every item column: its instrument's code and the item."""
    scores: dict[str, str] = field(default_factory=dict)
    """Scale scores by name, with their instrument's code: derived, never imported."""

    def at(self, visit: str) -> list[Form]:
        codes = self.by_visit.get(visit) or ([self.default] if self.default else [])
        return [self.forms[code] for code in codes]

    def add(self, form: Form) -> None:
        self.forms[form.code] = form
        for item in form.definition.items:
            self.items.setdefault(item.name, (form.code, item))
        for scale in form.definition.scales:
            self.scores.setdefault(scale.name, form.code)

    def columns(self) -> dict[str, Column]:
        """The item columns for reading the file: text, checked later by the instrument."""
        return {
            name: Column(name, parse_text, required=False, blank=True, default="")
            for name in self.items
        }

    def unknown(self) -> dict[str, str]:
        """Messages for columns that are not items but known: the scale scores."""
        return {
            name: _("%(name)s is a score: it is computed from the items, not imported.")
            % {"name": name}
            for name in self.scores
        }


def _builtin_form() -> Form:
    return Form(
        builtin.EMPLOYMENT,
        Definition.from_json(builtin.employment_definition()),
        builtin=builtin.EMPLOYMENT,
    )


def catalogue(trial: Trial | None, *, new_visits: bool) -> Catalogue:
    """The instruments of ``trial`` (None: a trial the import creates, which has none but the
    default). ``new_visits``: the files add visits, which start with no instrument attached.
    Three queries."""
    found = Catalogue()
    if trial is None:
        found.add(_builtin_form())
        found.default = builtin.EMPLOYMENT
        return found
    instruments = {i.pk: i for i in Instrument.objects.filter(trial=trial)}
    latest: dict[int, InstrumentVersion] = {}
    for version in InstrumentVersion.objects.filter(instrument__trial=trial).order_by("number"):
        latest[version.instrument_id] = version
    links = VisitInstrument.objects.filter(visit_definition__trial=trial).values_list(
        "visit_definition__code", "instrument_id"
    )
    default = None
    for pk, instrument in instruments.items():
        version = latest[pk]
        version.instrument = instrument
        form = Form(instrument.code, version.parsed, instrument, version, instrument.builtin)
        found.add(form)
        if instrument.builtin == builtin.EMPLOYMENT:
            default = form.code
    for visit, pk in links:
        found.by_visit.setdefault(visit, []).append(instruments[pk].code)
    visits = set(trial.visit_definitions.values_list("code", flat=True))
    if new_visits or visits - set(found.by_visit):
        if default is None:
            found.add(_builtin_form())
            default = builtin.EMPLOYMENT
        found.default = default
    return found


def _split(form: Form, item: Item, text: str) -> tuple[Any, str | None]:
    """A cell as an answer or a missing-data code: (raw answer, None) or (None, code). A code or
    label that is one of the item's choices is the answer, never a missing-data code."""
    folded = text.casefold()
    if folded in form.choice_words.get(item.name, ()):
        return text, None
    code = form.missing_words.get(folded)
    return (text, None) if code is None else (None, code)


def _zero_out_of_work(values: dict[str, Any]) -> dict[str, Any]:
    """The built-in instrument's answers with a zero in hours or earnings next to "not in paid
    work" read as empty (the file format allows that zero; the instrument asks neither)."""
    if str(values.get("in_paid_work", "")).strip().lower() not in {"no", "false", "0", "nei", "n"}:
        return values
    return {
        name: "" if name in ZERO_WHEN_NOT_WORKING and _is_zero(value) else value
        for name, value in values.items()
    }


def _is_zero(value: Any) -> bool:
    try:
        return float(str(value).replace(",", ".")) == 0
    except ValueError:
        return False


@dataclass(frozen=True)
class Answered:
    """One instrument's clean answers on a row."""

    form: Form
    answers: Answers
    given: frozenset[str]
    """The item columns the file has for this instrument (compared on a re-import)."""


def read_answers(
    found: Catalogue, visit: str, cells: Mapping[str, str], columns: Iterable[str]
) -> tuple[list[Answered], dict[str, str]]:
    """The row's answers by instrument, and its errors by column. ``cells`` are the row's
    item cells (stripped text), ``columns`` the item columns of the file."""
    columns = set(columns)
    forms = found.at(visit)
    asked = {form.code for form in forms}
    errors: dict[str, str] = {}
    for name in sorted(columns):
        code, _item = found.items[name]
        if code not in asked and cells.get(name):
            errors[name] = _("%(name)s is not asked at visit %(visit)s: leave it empty.") % {
                "name": name,
                "visit": visit,
            }
    given = [form for form in forms if any(i.name in columns for i in form.definition.items)]
    answered = [f for f in given if any(cells.get(i.name) for i in f.definition.items)]
    result: list[Answered] = []
    # An instrument with every cell blank was not answered at this visit; a row with no
    # answer at all is checked against every instrument, so required items say what is missing.
    for form in answered or given:
        items = [item for item in form.definition.items if item.name in columns]
        values: dict[str, Any] = {}
        missing: dict[str, str] = {}
        for item in items:
            text = cells.get(item.name, "")
            if not text:
                continue
            value, code = _split(form, item, text)
            if code is None:
                values[item.name] = value
            else:
                missing[item.name] = code
        if form.builtin == builtin.EMPLOYMENT:
            values = _zero_out_of_work(values)
        try:
            clean = clean_answers(form.definition, values, missing, labels=True)
        except AnswerError as exc:
            errors.update(exc.errors)
            continue
        result.append(Answered(form, clean, frozenset(item.name for item in items)))
    if not given:
        errors.setdefault(
            "visit",
            _("The file has no column for the instruments asked at visit %(visit)s.")
            % {"visit": visit},
        )
    elif not answered and not errors:
        errors["visit"] = _("The row has no answer to any instrument asked at visit %(visit)s.") % {
            "visit": visit
        }
    return result, errors
