"""The answers in assessments.csv: one column per item of the trial's instruments.

A row names a participant and a visit; its other columns are the items of the instruments the
trial asks at that visit (``instruments.models.VisitInstrument``; a visit with none attached
asks the trial's default, the built-in "Employment and benefits"), named by their variable
names as in the data dictionary. A cell holds the answer (a choice by its code or by its label,
in English or bokmål), one of the instrument's missing-data codes (kept apart from a blank), or
nothing. Each instrument's answers are checked by ``instruments.definition.clean_answers``, the
check every data-entry path uses (types, ranges, codes, required items, branching); scores are
derived when the answers are recorded, never read from the file.

A multiple choice is either one column (its codes or labels joined by ``|``) or its choice
columns, one 0/1 column per choice named as the data sets and REDCap name them
(``<variable>___<code>``, ``instruments.dictionary.variables.indicator_columns``): 1 ticked, 0
not, every cell blank not answered; all 0 is an answer with none ticked (``[]``).

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
    CHOICE_COLUMN_MARK,
    AnswerError,
    Answers,
    Definition,
    Item,
    ItemType,
    clean_answers,
)
from instruments.dictionary.variables import Indicator, indicator_columns
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
    indicators: dict[str, tuple[Indicator, ...]] = field(default_factory=dict)
    """Each multiple-choice item's choice columns (``<name>___<code>``), by the item's name."""
    choice_columns: dict[str, str] = field(default_factory=dict)
    """Every choice column, with the name of its item."""

    def at(self, visit: str) -> list[Form]:
        codes = self.by_visit.get(visit) or ([self.default] if self.default else [])
        return [self.forms[code] for code in codes]

    def add(self, form: Form) -> None:
        self.forms[form.code] = form
        for item in form.definition.items:
            if self.items.setdefault(item.name, (form.code, item))[1] is not item:
                continue
            if item.type == ItemType.MULTI and item.choices:
                indicators = indicator_columns(item.name, item.choices)
                self.indicators[item.name] = indicators
                for indicator in indicators:
                    self.choice_columns.setdefault(indicator.column, item.name)
        for scale in form.definition.scales:
            self.scores.setdefault(scale.name, form.code)

    def columns(self) -> dict[str, Column]:
        """The item columns for reading the file, a multiple choice's choice columns too:
        text, checked later by the instrument."""
        return {
            name: Column(name, parse_text, required=False, blank=True, default="")
            for name in [*self.items, *self.choice_columns]
        }

    def unknown(self, column: str) -> str | None:
        """The message for a column that is no item but known: a scale score, or a column named
        as a choice column of an item that has no such choice."""
        if column in self.scores:
            return _("%(name)s is a score: it is computed from the items, not imported.") % {
                "name": column
            }
        # The longest item name the column starts with (a name may end with an underscore).
        owners = [name for name in self.items if column.startswith(f"{name}{CHOICE_COLUMN_MARK}")]
        if not owners:
            return None
        name = max(owners, key=len)
        if name not in self.indicators:
            return _("%(name)s is not a multiple choice: give its answer in one column.") % {
                "name": name
            }
        return _("%(column)s names no choice of %(name)s: its choice columns are %(columns)s.") % {
            "column": column,
            "name": name,
            "columns": ", ".join(i.column for i in self.indicators[name]),
        }

    def header_errors(self, columns: Iterable[str]) -> tuple[dict[str, str], set[str]]:
        """The header's errors about multiple choices given in choice columns (by column), and
        the choice columns to leave unread: an item given both in one column and in choice
        columns, or in some of its choice columns but not all."""
        columns = set(columns)
        errors: dict[str, str] = {}
        aside: set[str] = set()
        for name, indicators in self.indicators.items():
            given = [i.column for i in indicators if i.column in columns]
            if not given:
                continue
            if name in columns:
                errors[name] = _(
                    "%(name)s is given both in this column and in its choice columns "
                    "(%(columns)s): keep one or the other."
                ) % {"name": name, "columns": ", ".join(given)}
                aside.update(given)
                continue
            missing = [i.column for i in indicators if i.column not in columns]
            for column in missing:
                errors[column] = _(
                    "This column is missing: %(name)s is given in its choice columns, one for "
                    "each choice."
                ) % {"name": name}
            if missing:
                aside.update(given)
        return errors, aside


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
    """The items the file has columns for in this instrument, by name (an item given in its
    choice columns too); compared on a re-import."""


def _ticked(
    found: Catalogue, name: str, cells: Mapping[str, str], errors: dict[str, str]
) -> list[str] | None:
    """A multiple choice's answer from its choice columns: the codes of those with 1 (an empty
    list when all are 0), None when all are blank or a cell is at fault (its error added)."""
    indicators = found.indicators[name]
    texts = [(indicator, cells.get(indicator.column, "")) for indicator in indicators]
    if not any(text for _indicator, text in texts):
        return None
    form = found.forms[found.items[name][0]]
    faults: dict[str, str] = {}
    for indicator, text in texts:
        if text in {"0", "1"}:
            continue
        if not text:
            faults[indicator.column] = _(
                "Give every choice column of %(name)s a 1 or a 0, or leave them all empty "
                "(not answered)."
            ) % {"name": name}
        elif text.casefold() in form.missing_words:
            faults[indicator.column] = _(
                "A missing-data code cannot be given in a choice column: give %(name)s in one "
                "column to record it."
            ) % {"name": name}
        else:
            faults[indicator.column] = _(
                "Write 1 (ticked) or 0 (not ticked), or leave every choice column of %(name)s "
                "empty (not answered)."
            ) % {"name": name}
    if faults:
        errors.update(faults)
        return None
    return [indicator.code for indicator, text in texts if text == "1"]


def _item_cells(
    found: Catalogue, cells: Mapping[str, str], columns: set[str], errors: dict[str, str]
) -> tuple[dict[str, Any], set[str], set[str]]:
    """The row's answers by item (the text of an item's column, or the codes read from its
    choice columns), the items the file gives, and those whose choice columns are at fault."""
    values: dict[str, Any] = {}
    given: set[str] = set()
    faulty: set[str] = set()
    for name in columns:
        if name in found.items:
            given.add(name)
            if cells.get(name):
                values[name] = cells[name]
    for name, indicators in found.indicators.items():
        if not all(indicator.column in columns for indicator in indicators):
            continue  # not given this way (a header error when partly given)
        given.add(name)
        before = len(errors)
        chosen = _ticked(found, name, cells, errors)
        if chosen is not None:
            values[name] = chosen
        elif len(errors) > before:
            faulty.add(name)
    return values, given, faulty


def read_answers(
    found: Catalogue, visit: str, cells: Mapping[str, str], columns: Iterable[str]
) -> tuple[list[Answered], dict[str, str]]:
    """The row's answers by instrument, and its errors by column (an error about an item as a
    whole names the item, also when its choice columns give it). ``cells`` are the row's item
    and choice cells (stripped text), ``columns`` the item and choice columns of the file."""
    forms = found.at(visit)
    asked = {form.code for form in forms}
    errors: dict[str, str] = {}
    values, given_items, faulty = _item_cells(found, cells, set(columns), errors)
    for name in sorted(given_items):
        code, _item = found.items[name]
        if code not in asked and name in values:
            errors[name] = _("%(name)s is not asked at visit %(visit)s: leave it empty.") % {
                "name": name,
                "visit": visit,
            }
    given = [f for f in forms if any(i.name in given_items for i in f.definition.items)]
    filled = values.keys() | faulty
    answered = [f for f in given if any(i.name in filled for i in f.definition.items)]
    result: list[Answered] = []
    # An instrument with every cell blank was not answered at this visit; a row with no
    # answer at all is checked against every instrument, so required items say what is missing.
    for form in answered or given:
        items = [item for item in form.definition.items if item.name in given_items]
        raw: dict[str, Any] = {}
        missing: dict[str, str] = {}
        for item in items:
            value = values.get(item.name)
            if value is None:
                continue
            if isinstance(value, list):
                raw[item.name] = value  # codes from the choice columns
                continue
            answer, code = _split(form, item, value)
            if code is None:
                raw[item.name] = answer
            else:
                missing[item.name] = code
        if form.builtin == builtin.EMPLOYMENT:
            raw = _zero_out_of_work(raw)
        try:
            clean = clean_answers(form.definition, raw, missing, labels=True)
        except AnswerError as exc:
            # A choice column at fault says why; "required" on its item would only repeat it.
            errors.update({k: v for k, v in exc.errors.items() if k not in faulty})
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
